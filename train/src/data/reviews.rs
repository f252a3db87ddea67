//! Built-in text for BERT: short generated reviews whose sentiment needs reading, not counting.
//!
//! A clause is `the NOUN was [not] [very] ADJ`; its polarity is the adjective's, flipped by `not`.
//! A review is one clause, `A and B` (both the same polarity), or `A but B` / `although A , B`
//! (opposite polarities; the review means what `B` says). A bag of words cannot tell
//! `the food was not good` from `the food was good`, nor which half of a `but` counts, so a
//! classifier has to read word order — which a small BERT learns in minutes.
//!
//! Every noun belongs to a topic (restaurant, film, hotel, phone); a document is a run of
//! reviews of one topic and one opinion, so consecutive sentences are related (for next-sentence
//! prediction) and the words of one opinion share contexts (what pre-training can pick up).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TOPICS: [&[&str]; 4] = [
    &["food", "service", "waiter", "soup", "dessert", "menu", "kitchen", "wine"],
    &["movie", "plot", "acting", "ending", "soundtrack", "director", "script", "cast"],
    &["room", "bed", "staff", "pool", "breakfast", "view", "lobby", "shower"],
    &["phone", "battery", "screen", "camera", "speaker", "charger", "case", "keyboard"],
];
const POSITIVE: [&str; 10] =
    ["good", "great", "excellent", "wonderful", "superb", "lovely", "pleasant", "brilliant", "delightful", "fine"];
const NEGATIVE: [&str; 10] =
    ["bad", "awful", "terrible", "boring", "poor", "dull", "horrible", "bland", "weak", "disappointing"];
const INTENSIFIERS: [&str; 4] = ["very", "really", "quite", "truly"];

/// The two classes, in label-id order.
pub const LABELS: [&str; 2] = ["negative", "positive"];

/// One clause of the given meaning (`true` = positive) about a noun of `topic`.
fn clause(rng: &mut StdRng, topic: usize, positive: bool) -> String {
    let noun = TOPICS[topic][rng.random_range(0..TOPICS[topic].len())];
    let negated = rng.random_bool(0.35);
    // A negated clause means the opposite of its adjective.
    let words = if positive != negated { &POSITIVE } else { &NEGATIVE };
    let adjective = words[rng.random_range(0..words.len())];
    let intensifier =
        if rng.random_bool(0.3) { format!("{} ", INTENSIFIERS[rng.random_range(0..4)]) } else { String::new() };
    let not = if negated { "not " } else { "" };
    format!("the {noun} was {not}{intensifier}{adjective}")
}

/// A review about `topic` and whether it is positive.
pub fn review(rng: &mut StdRng, topic: usize) -> (String, bool) {
    let positive = rng.random_bool(0.5);
    (review_meaning(rng, topic, positive), positive)
}

/// A review about `topic` that means `positive`.
fn review_meaning(rng: &mut StdRng, topic: usize, positive: bool) -> String {
    match rng.random_range(0..4) {
        0 => clause(rng, topic, positive),
        1 => format!("{} and {}", clause(rng, topic, positive), clause(rng, topic, positive)),
        2 => format!("{} but {}", clause(rng, topic, !positive), clause(rng, topic, positive)),
        _ => format!("although {} , {}", clause(rng, topic, !positive), clause(rng, topic, positive)),
    }
}

/// `n` labelled reviews (label id 1 = positive) on random topics, deterministic for `seed`.
pub fn labelled_reviews(n: usize, seed: u64) -> Vec<(String, usize)> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let topic = rng.random_range(0..TOPICS.len());
            let (text, positive) = review(&mut rng, topic);
            (text, usize::from(positive))
        })
        .collect()
}

/// `n` documents of 4–8 reviews each, one topic and one opinion per document (as a reviewer who
/// liked the place says so throughout): the sentiment of a sentence predicts its neighbours'.
pub fn review_documents(n: usize, seed: u64) -> Vec<Vec<String>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let (topic, positive) = (rng.random_range(0..TOPICS.len()), rng.random_bool(0.5));
            (0..rng.random_range(4..=8)).map(|_| review_meaning(&mut rng, topic, positive)).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The meaning of a generated review, worked out from its words by the rules in the module
    /// comment (an independent reading of the text, not of the generator's choices).
    fn meaning(text: &str) -> bool {
        let clause_meaning = |c: &str| {
            let words: Vec<&str> = c.split_whitespace().collect();
            let adjective = words.last().unwrap();
            POSITIVE.contains(adjective) != words.contains(&"not")
        };
        let last = text.rsplit([',']).next().unwrap();
        let last = last.rsplit(" but ").next().unwrap().rsplit(" and ").next().unwrap();
        clause_meaning(last)
    }

    #[test]
    fn labels_follow_negation_and_but() {
        let reviews = labelled_reviews(2000, 3);
        for (text, label) in &reviews {
            assert_eq!(meaning(text), *label == 1, "{text}");
        }
        let positive = reviews.iter().filter(|r| r.1 == 1).count();
        assert!((900..1100).contains(&positive), "{positive} of 2000 positive");
        // Word order matters: some reviews hold a positive adjective yet are negative.
        assert!(reviews.iter().any(|(t, l)| *l == 0 && POSITIVE.iter().any(|a| t.ends_with(a))));
        assert_eq!(labelled_reviews(5, 3), labelled_reviews(5, 3));
        assert_eq!(clause(&mut StdRng::seed_from_u64(1), 0, true).split(' ').next(), Some("the"));
    }

    #[test]
    fn documents_keep_to_one_topic_and_one_opinion() {
        for doc in review_documents(50, 1) {
            assert!(doc.iter().all(|s| meaning(s) == meaning(&doc[0])), "{doc:?}");
            assert!((4..=8).contains(&doc.len()));
            let topic = TOPICS.iter().position(|t| t.iter().any(|n| doc[0].contains(&format!("the {n} ")))).unwrap();
            for sentence in &doc {
                let nouns = sentence.split_whitespace().collect::<Vec<_>>();
                assert!(nouns.windows(2).filter(|w| w[0] == "the").all(|w| TOPICS[topic].contains(&w[1])));
            }
        }
    }
}
