//! Text of an uploaded file (DEPENDENCIES.md: CSV import): a BOM decides first (UTF-8, or the
//! UTF-16 of Outlook's "Unicode" exports), then strict UTF-8, else Windows-1252, which older
//! Outlook and Excel write and which decodes every byte, so reading never fails.

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

pub struct Decoded {
    pub text: String,
    /// The encoding's WHATWG name, e.g. `UTF-8`, `windows-1252`, `UTF-16LE`.
    pub encoding: &'static str,
}

pub fn decode(data: &[u8]) -> Decoded {
    if let Some((encoding, bom)) = Encoding::for_bom(data) {
        let (text, _) = encoding.decode_without_bom_handling(&data[bom..]);
        return Decoded { text: text.into_owned(), encoding: encoding.name() };
    }
    match std::str::from_utf8(data) {
        Ok(text) => Decoded { text: text.to_owned(), encoding: UTF_8.name() },
        Err(_) => {
            let (text, _) = WINDOWS_1252.decode_without_bom_handling(data);
            Decoded { text: text.into_owned(), encoding: WINDOWS_1252.name() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn bom_then_utf8_then_windows_1252() {
        let d = decode(b"\xef\xbb\xbfJos\xc3\xa9");
        assert_eq!((d.text.as_str(), d.encoding), ("José", "UTF-8"));
        let d = decode(b"Jos\xe9,M\xfcller");
        assert_eq!((d.text.as_str(), d.encoding), ("José,Müller", "windows-1252"));
        let d = decode(b"\xff\xfeA\x00,\x00");
        assert_eq!((d.text.as_str(), d.encoding), ("A,", "UTF-16LE"));
    }
}
