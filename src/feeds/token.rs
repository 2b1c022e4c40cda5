//! Feed tokens: the secret part of a public feed URL.
//!
//! A token is 32 bytes (256 bits) from the operating system's generator, written in base64url
//! without padding (43 characters, all URL-safe, so it needs no percent-encoding). The store
//! keeps only its SHA-256, so a copy of the database does not reveal working URLs.
//!
//! Why looking a token up by its hash is constant-time with respect to the secret: the server
//! never compares the presented token with a stored one. It hashes whatever it was given and
//! asks the store for that exact hash (an index look-up). How long the look-up takes depends
//! on the hash of the guess, and an attacker cannot steer that hash towards the stored one —
//! making a guess whose hash shares a prefix with the secret's hash does not bring the guess
//! any closer to the secret (SHA-256 is preimage-resistant), so timing teaches nothing. A
//! wrong token and a revoked one take the same path and get the same 404.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Random bytes in a token (the issue asks for at least 128 bits).
pub const TOKEN_BYTES: usize = 32;

/// The length of a token as written in URLs.
pub const TOKEN_CHARS: usize = 43;

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomError(String);

/// A fresh token.
pub fn generate() -> Result<String, RandomError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| RandomError(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps and looks tokens up by: lower-case hex SHA-256 of the token text.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_url_safe_and_distinct() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a, b);
        for token in [&a, &b] {
            assert_eq!(token.len(), TOKEN_CHARS);
            assert!(token.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{token}");
            assert_eq!(URL_SAFE_NO_PAD.decode(token).unwrap().len(), TOKEN_BYTES);
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_ne!(token_hash("abd"), token_hash("abc"));
    }
}
