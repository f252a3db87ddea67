//! The documentation's links lead somewhere: every relative link of README.md, DEVELOPERS.md and
//! docs/*.md names a file that exists, a `#fragment` into a Markdown file names one of its headings,
//! and a link whose text is a `code` name into a source file names something that file defines.
//! Nothing points to the `../shared` folder the project was specified in.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs = vec![root.join("README.md"), root.join("DEVELOPERS.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// `(text, target)` of every inline link `[text](target)` and image `![alt](target)` outside code
/// blocks.
fn links(markdown: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut in_code = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let Some(close) = after.find("](") else { break };
            let text = &after[..close];
            let Some(end) = after[close + 2..].find(')') else { break };
            found.push((text.to_string(), after[close + 2..close + 2 + end].to_string()));
            rest = &after[close + 2 + end..];
        }
    }
    found
}

/// GitHub's anchor for a heading: lower case, spaces to hyphens, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    markdown.lines().filter_map(|l| l.strip_prefix('#')).map(|h| anchor(h.trim_start_matches('#'))).collect()
}

/// Whether Rust source `source` defines `name` (a function, type, trait, constant, module or macro).
fn defines(source: &str, name: &str) -> bool {
    ["fn", "struct", "enum", "trait", "const", "static", "type", "mod", "macro_rules!"].iter().any(|kind| {
        source.match_indices(&format!("{kind} {name}")).any(|(at, m)| {
            let next = source[at + m.len()..].chars().next();
            next.is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
        })
    })
}

fn broken_links(doc: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(doc).expect("readable");
    let mut broken = Vec::new();
    for (label, target) in links(&text) {
        if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, fragment) = target.split_once('#').map_or((target.as_str(), None), |(f, a)| (f, Some(a)));
        let path = if file.is_empty() { doc.to_path_buf() } else { doc.parent().expect("a folder").join(file) };
        let mut problem = None;
        if !path.exists() {
            problem = Some("no such file".to_string());
        } else if let Some(fragment) = fragment.filter(|_| path.extension().is_some_and(|e| e == "md")) {
            if !anchors(&std::fs::read_to_string(&path).expect("readable")).iter().any(|a| a == fragment) {
                problem = Some(format!("no heading #{fragment}"));
            }
        } else if let Some(name) = label.strip_prefix('`').and_then(|l| l.strip_suffix('`')) {
            let name = name.trim_end_matches("()").rsplit("::").next().unwrap_or(name);
            let source = std::fs::read_to_string(&path).unwrap_or_default();
            let found = match path.extension().and_then(|e| e.to_str()) {
                Some("rs") => defines(&source, name),
                _ => source.contains(name),
            };
            if !found {
                problem = Some(format!("{} defines no `{name}`", path.display()));
            }
        }
        if let Some(problem) = problem {
            broken.push(format!("{}: [{label}]({target}): {problem}", doc.display()));
        }
    }
    broken
}

#[test]
fn every_link_of_the_documentation_resolves() {
    let broken: Vec<String> = documents().iter().flat_map(|d| broken_links(d)).collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_documentation_is_the_projects_own() {
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for outside in ["shared/DESIGN.md", "shared/STYLE.md"] {
            assert!(!text.contains(outside), "{} points to {outside}", doc.display());
        }
    }
}

#[test]
fn the_checker_catches_what_it_should() {
    let dir = std::env::temp_dir().join(format!("emergent-doc-links-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("code.rs"), "pub fn present() {}\nfn presently() {}\n").unwrap();
    let doc = dir.join("page.md");
    std::fs::write(
        &doc,
        "# A page\n[`present`](code.rs) [`absent`](code.rs) [`presen`](code.rs) [x](gone.rs)\n\
         [up](#a-page) [down](#no-such) [web](https://example.com)\n```\n[in code](nowhere)\n```\n",
    )
    .unwrap();
    let broken = broken_links(&doc);
    std::fs::remove_dir_all(&dir).unwrap();
    let says = |what: &str| broken.iter().any(|b| b.contains(what));
    assert!(says("`absent`") && says("`presen`") && says("gone.rs") && says("#no-such"), "{broken:?}");
    assert_eq!(broken.len(), 4, "{broken:?}");
}
