//! The header of a `.npy` file, read strictly: the magic `\x93NUMPY`, a version (1, 2 or 3), the
//! header's length (2 bytes in version 1, 4 after), and a Python dict literal with exactly the keys
//! `descr` (a dtype string such as `'<i8'`), `fortran_order` (`True`/`False`) and `shape` (a tuple
//! of integers). Anything else is an error naming what was found: a header longer than the file or
//! than numpy writes, nesting, a structured dtype. (A general literal parser took exponential time
//! on nested brackets and allocated whatever length a header declared.)

/// numpy refuses to read longer headers by default (`max_header_size`).
const MAX_HEADER: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
    /// Where the data starts.
    pub data_offset: usize,
}

/// Parses the header at the start of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Header, String> {
    let rest = bytes.strip_prefix(b"\x93NUMPY").ok_or("no .npy magic (\\x93NUMPY) at the start")?;
    let (&[major, _minor], rest) = rest.split_first_chunk::<2>().ok_or("the file ends inside its version")?;
    let (len, rest) = match major {
        1 => rest.split_first_chunk::<2>().map(|(l, r)| (u16::from_le_bytes(*l) as usize, r)),
        2 | 3 => rest.split_first_chunk::<4>().map(|(l, r)| (u32::from_le_bytes(*l) as usize, r)),
        v => return Err(format!("format version {v} is not one numpy writes (1, 2 or 3)")),
    }
    .ok_or("the file ends inside its header length")?;
    if len > MAX_HEADER {
        return Err(format!("a header of {len} bytes is longer than numpy writes ({MAX_HEADER})"));
    }
    let text = rest.get(..len).ok_or_else(|| format!("the header says {len} bytes; the file ends first"))?;
    let text = std::str::from_utf8(text).map_err(|_| "the header is not text")?;
    let mut header = parse_dict(text.trim_end())?;
    header.data_offset = bytes.len() - rest.len() + len;
    Ok(header)
}

/// `{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }` in any key order.
fn parse_dict(text: &str) -> Result<Header, String> {
    let body = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| format!("the header is not a dict: {}", preview(text)))?;
    let (mut descr, mut fortran_order, mut shape) = (None, None, None);
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (key, after) = quoted(rest)?;
        rest = after.trim_start().strip_prefix(':').ok_or_else(|| format!("no ':' after '{key}'"))?.trim_start();
        match key {
            "descr" => (descr, rest) = quoted(rest).map(|(v, r)| (Some(v.to_string()), r))?,
            "fortran_order" => {
                let value = ["True", "False"].into_iter().find(|v| rest.starts_with(v));
                let value = value.ok_or_else(|| format!("fortran_order is not True or False: {}", preview(rest)))?;
                (fortran_order, rest) = (Some(value == "True"), &rest[value.len()..]);
            }
            "shape" => (shape, rest) = tuple(rest).map(|(v, r)| (Some(v), r))?,
            other => return Err(format!("unexpected key '{other}' in the header")),
        }
        rest = rest.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    match (descr, fortran_order, shape) {
        (Some(descr), Some(fortran_order), Some(shape)) => Ok(Header { descr, fortran_order, shape, data_offset: 0 }),
        _ => Err("the header lacks one of 'descr', 'fortran_order' and 'shape'".into()),
    }
}

/// A string in single or double quotes without escapes, and what follows it.
fn quoted(text: &str) -> Result<(&str, &str), String> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"');
    let quote = quote.ok_or_else(|| format!("expected a quoted string: {}", preview(text)))?;
    let body = &text[1..];
    let end = body.find(quote).ok_or("a string in the header is not closed")?;
    Ok((&body[..end], &body[end + 1..]))
}

/// `(2, 3)`, `(5,)` or `()`: non-negative integers.
fn tuple(text: &str) -> Result<(Vec<u64>, &str), String> {
    let body = text.strip_prefix('(').ok_or_else(|| format!("shape is not a tuple: {}", preview(text)))?;
    let end = body.find(')').ok_or("the shape tuple is not closed")?;
    let dims = body[..end]
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<u64>().map_err(|_| format!("shape entry '{d}' is not a non-negative integer")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((dims, &body[end + 1..]))
}

fn preview(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(version: u8, dict: &str) -> Vec<u8> {
        let mut out = vec![0x93, b'N', b'U', b'M', b'P', b'Y', version, 0];
        match version {
            1 => out.extend((dict.len() as u16).to_le_bytes()),
            _ => out.extend((dict.len() as u32).to_le_bytes()),
        }
        out.extend(dict.as_bytes());
        out
    }

    #[test]
    fn numpys_headers_in_every_version() {
        let dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }          \n";
        for version in [1, 2, 3] {
            let bytes = file(version, dict);
            let h = parse(&bytes).unwrap();
            assert_eq!((h.descr.as_str(), h.fortran_order, h.shape.as_slice()), ("<i8", false, &[2, 3][..]));
            assert_eq!(h.data_offset, bytes.len());
        }
        let h = parse(&file(1, "{\"shape\": (5,), \"fortran_order\": True, \"descr\": \"|u1\"}")).unwrap();
        assert_eq!((h.shape, h.fortran_order), (vec![5], true));
        assert_eq!(
            parse(&file(1, "{'descr': '<f4', 'fortran_order': False, 'shape': ()}")).unwrap().shape,
            Vec::<u64>::new()
        );
    }

    #[test]
    fn what_fuzzing_found_and_other_bad_headers_are_errors() {
        // A version-3 header declaring 3.7 GB: allocated before reading; now refused by its length.
        let mut huge = b"\x93NUMPY\x03\x00".to_vec();
        huge.extend(0xdd27_2c65u32.to_le_bytes());
        assert!(parse(&huge).unwrap_err().contains("longer than numpy writes"));
        // Nested braces took the literal parser exponential time.
        let nested = format!("{}'descr': '<i8', 'fortran_order': False, 'shape': (2,), }}", "{".repeat(40));
        assert!(parse(&file(1, &nested)).unwrap_err().contains("expected a quoted string"));
        for (dict, message) in [
            ("{'descr': '<i8', 'shape': (2,)}", "lacks one of"),
            ("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (2,)}", "expected a quoted string"),
            ("{'descr': '<i8', 'fortran_order': Maybe, 'shape': (2,)}", "not True or False"),
            ("{'descr': '<i8', 'fortran_order': False, 'shape': (2, -1)}", "'-1' is not a non-negative"),
            ("{'descr': '<i8', 'fortran_order': False, 'shape': (2,", "not a dict"),
            ("{'descr': '<i8', 'extra': 1}", "unexpected key 'extra'"),
        ] {
            let e = parse(&file(1, dict)).unwrap_err();
            assert!(e.contains(message), "{dict}: {e}");
        }
        assert!(parse(b"\x93NUMPY\x01\x00\x50\x00{'descr'").unwrap_err().contains("the file ends first"));
        assert!(parse(b"hello").unwrap_err().contains("no .npy magic"));
        assert!(parse(&file(7, "{}")).unwrap_err().contains("version 7"));
    }
}
