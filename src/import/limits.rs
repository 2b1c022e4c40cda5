//! The size limits of one imported file (PRODUCT.md: at most 50 MB and 10,000 lines). They
//! are checked before anything is read or written, so an oversized file imports nothing.

use super::{ImportError, ImportResult};

/// Largest file accepted, in bytes (50 MB, decimal as users read it).
pub const MAX_BYTES: usize = 50 * 1000 * 1000;
/// Most physical lines accepted (a CSV row with a multi-line note counts each of its lines).
pub const MAX_LINES: usize = 10_000;

pub fn check(data: &[u8]) -> ImportResult<()> {
    if data.len() > MAX_BYTES {
        return Err(ImportError::TooLarge(format!(
            "the file has {} bytes; at most {MAX_BYTES} (50 MB) can be imported at once — nothing was imported",
            data.len()
        )));
    }
    let lines = count_lines(data);
    if lines > MAX_LINES {
        return Err(ImportError::TooLarge(format!(
            "the file has {lines} lines; at most {MAX_LINES} can be imported at once — split it; nothing was imported"
        )));
    }
    Ok(())
}

/// Lines ended by LF, CRLF or a lone CR (classic Mac exports), plus an unterminated last one.
pub fn count_lines(data: &[u8]) -> usize {
    let mut lines = 0;
    let mut previous = 0u8;
    for &b in data {
        if b == b'\n' && previous != b'\r' || b == b'\r' {
            lines += 1;
        }
        previous = b;
    }
    if !data.is_empty() && !matches!(data.last(), Some(b'\n' | b'\r')) {
        lines += 1;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_line_ending() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\r\nb\r\n"), 2);
        assert_eq!(count_lines(b"a\nb\rc"), 3);
    }

    #[test]
    fn refuses_too_many_lines_or_bytes() {
        assert!(check(&b"x\n".repeat(MAX_LINES)).is_ok());
        let e = check(&b"x\n".repeat(MAX_LINES + 1)).unwrap_err();
        assert!(matches!(e, ImportError::TooLarge(ref m) if m.contains("10001 lines")), "{e}");
        let big = vec![b'x'; MAX_BYTES + 1];
        assert!(matches!(check(&big), Err(ImportError::TooLarge(m)) if m.contains("50 MB")));
    }
}
