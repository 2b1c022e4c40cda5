//! Time-based one-time passwords (RFC 6238) and recovery codes: the second factor of a web
//! login.
//!
//! The parameters are the ones every authenticator app supports and RFC 6238 recommends:
//! HMAC-SHA-1, 6 digits, 30-second steps (§4, §5.2). A code is accepted for the current step
//! and one step either side, for clock drift and typing time (§5.2, §6). Replay protection
//! (§5.2: "the verifier MUST NOT accept the second attempt of the same OTP") is by time step:
//! the caller passes the last accepted step and only later ones match, and the store records a
//! new one with a conditional update, so two requests racing with one code cannot both pass.
//!
//! Recovery codes are 16 characters from the app-password alphabet (~79 bits each), so like
//! app passwords they are stored as a SHA-256 hash: nothing can be guessed from it offline.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use super::AuthError;
use super::password::grouped_random;

pub const DIGITS: u8 = 6;
pub const STEP_SECONDS: u64 = 30;
/// Steps accepted on either side of the current one.
pub const SKEW_STEPS: i64 = 1;
/// RFC 4226 §4 asks for at least 128 bits and recommends 160.
pub const SECRET_BYTES: usize = 20;
/// Shown in authenticator apps next to the account name.
pub const ISSUER: &str = "davit";

pub const RECOVERY_CODES: usize = 10;
/// Lower-case letters and digits without look-alikes, as for app passwords.
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const RECOVERY_GROUPS: usize = 4;
const RECOVERY_GROUP_LEN: usize = 4;

/// A fresh TOTP key from the operating system's generator.
pub fn generate_secret() -> Result<Vec<u8>, AuthError> {
    let mut secret = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|_| AuthError::Random)?;
    Ok(secret)
}

/// The key as authenticator apps take it when typed in: RFC 4648 base32 without padding.
pub fn secret_base32(secret: &[u8]) -> String {
    Secret::new(secret.to_vec().into_boxed_slice()).to_base32()
}

fn generator(secret: &[u8], digits: u8) -> Totp {
    // Not `build()`: its RFC checks (key length, digits) hold for every key davit makes, and a
    // key that failed them would only produce codes nobody can match, not a security hole.
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(digits)
        .with_step_duration(STEP_SECONDS)
        .with_secret(Secret::new(secret.to_vec().into_boxed_slice()))
        .build_noncompliant()
}

/// The RFC 6238 time step of a Unix time.
pub fn step_of(unix: i64) -> i64 {
    unix.max(0) / STEP_SECONDS as i64
}

/// The code for the step containing `unix` (what an authenticator app shows at that time).
pub fn code_at(secret: &[u8], unix: i64) -> String {
    code_with_digits(secret, unix, DIGITS)
}

fn code_with_digits(secret: &[u8], unix: i64, digits: u8) -> String {
    generator(secret, digits).generate(unix.max(0) as u64).to_string()
}

/// The time step `code` was made for, if it is a code of a step within ±1 of `unix` that is
/// later than `last_step`. Every candidate is computed and compared in constant time, so the
/// time taken does not tell which step (if any) matched.
pub fn matching_step(secret: &[u8], code: &str, unix: i64, last_step: Option<i64>) -> Option<i64> {
    let code = normalize(code);
    if !looks_like_totp(&code) {
        return None;
    }
    let totp = generator(secret, DIGITS);
    let current = step_of(unix);
    let mut found = None;
    for step in (current - SKEW_STEPS).max(0)..=current + SKEW_STEPS {
        let candidate = totp.generate(step as u64 * STEP_SECONDS).to_string();
        let equal: bool = candidate.as_bytes().ct_eq(code.as_bytes()).into();
        if equal && last_step.is_none_or(|last| step > last) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// Whether a presented second factor has the shape of a TOTP code (6 digits, spaces allowed).
pub fn looks_like_totp(code: &str) -> bool {
    let code = normalize(code);
    code.len() == usize::from(DIGITS) && code.bytes().all(|b| b.is_ascii_digit())
}

/// The `otpauth://` URI that authenticator apps read from the QR code (the Key Uri Format of
/// Google Authenticator, which all of them follow).
pub fn otpauth_uri(account: &str, secret: &[u8]) -> String {
    use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
    let label = utf8_percent_encode(&format!("{ISSUER}:{account}"), NON_ALPHANUMERIC).to_string();
    format!(
        "otpauth://totp/{label}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        secret_base32(secret)
    )
}

/// Ten fresh recovery codes such as `k7mq-zah3-xp9r-2bcd`.
pub fn generate_recovery_codes() -> Result<Vec<String>, AuthError> {
    (0..RECOVERY_CODES)
        .map(|_| grouped_random(RECOVERY_ALPHABET, RECOVERY_GROUPS, RECOVERY_GROUP_LEN))
        .collect()
}

/// Whether a presented second factor has the shape of a recovery code.
pub fn looks_like_recovery_code(code: &str) -> bool {
    let code = normalize(code).to_ascii_lowercase();
    code.len() == RECOVERY_GROUPS * RECOVERY_GROUP_LEN && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b))
}

/// The stored form of a recovery code: SHA-256 over the user id and the code without its
/// grouping and case, so a code typed `K7MQ ZAH3 …` matches and equal codes of two users
/// (however unlikely) do not share a hash.
pub fn recovery_code_hash(user_id: i64, code: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"davit recovery code v1");
    hasher.update(user_id.to_le_bytes());
    hasher.update(normalize(code).to_ascii_lowercase().as_bytes());
    hex::encode(hasher.finalize())
}

/// Drops the spaces and dashes people type between groups.
fn normalize(code: &str) -> String {
    code.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-1 key of RFC 6238 Appendix B: the ASCII string "12345678901234567890".
    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_appendix_b_sha1_vectors() {
        // (Unix time, 8-digit TOTP) from the SHA-1 rows of the table in RFC 6238 Appendix B.
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in vectors {
            assert_eq!(code_with_digits(RFC_KEY, time, 8), expected, "T = {time}");
            // Six digits are the same value modulo 10^6: the last six of the eight.
            assert_eq!(code_at(RFC_KEY, time), expected[2..], "T = {time}");
        }
    }

    #[test]
    fn codes_of_the_neighbouring_steps_are_accepted_and_no_further() {
        let now = 1_234_567_890;
        let step = step_of(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = code_at(RFC_KEY, now + offset * STEP_SECONDS as i64);
            let expected = accepted.then_some(step + offset);
            assert_eq!(matching_step(RFC_KEY, &code, now, None), expected, "offset {offset}");
        }
        // Typed with a space in the middle, as apps display it.
        let code = code_at(RFC_KEY, now);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(matching_step(RFC_KEY, &spaced, now, None), Some(step));
    }

    #[test]
    fn a_code_at_or_before_the_last_accepted_step_is_a_replay() {
        let now = 1_234_567_890;
        let step = step_of(now);
        let code = code_at(RFC_KEY, now);
        assert_eq!(matching_step(RFC_KEY, &code, now, Some(step - 1)), Some(step));
        assert_eq!(matching_step(RFC_KEY, &code, now, Some(step)), None, "same code twice");
        let previous = code_at(RFC_KEY, now - STEP_SECONDS as i64);
        assert_eq!(matching_step(RFC_KEY, &previous, now, Some(step)), None, "older step");
        let next = code_at(RFC_KEY, now + STEP_SECONDS as i64);
        assert_eq!(matching_step(RFC_KEY, &next, now, Some(step)), Some(step + 1));
    }

    #[test]
    fn malformed_codes_never_match() {
        let now = 1_234_567_890;
        let code = code_at(RFC_KEY, now);
        for bad in ["", "12345", "1234567", "abcdef", "+12345", &format!("{code}0")] {
            assert_eq!(matching_step(RFC_KEY, bad, now, None), None, "{bad:?}");
        }
        assert!(!looks_like_totp("12 34 5"));
        assert!(looks_like_totp("123 456"));
    }

    #[test]
    fn secrets_are_random_and_written_in_base32() {
        let a = generate_secret().unwrap();
        assert_eq!(a.len(), SECRET_BYTES);
        assert_ne!(a, generate_secret().unwrap());
        // RFC 4648 §10: BASE32("foobar") = "MZXW6YTBOI" (padding dropped).
        assert_eq!(secret_base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(secret_base32(&a).len(), 32, "160 bits are 32 base32 characters");
    }

    #[test]
    fn otpauth_uri_names_issuer_account_and_parameters() {
        let uri = otpauth_uri("alice@example.org", b"foobar");
        assert_eq!(
            uri,
            "otpauth://totp/davit%3Aalice%40example%2Eorg?secret=MZXW6YTBOI&issuer=davit&algorithm=SHA1\
             &digits=6&period=30"
        );
    }

    #[test]
    fn recovery_codes_are_ten_distinct_grouped_codes() {
        let codes = generate_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let unique: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(code.split('-').count(), 4, "{code}");
            assert!(looks_like_recovery_code(code), "{code}");
            assert!(!looks_like_totp(code), "{code}");
        }
    }

    #[test]
    fn recovery_code_hash_ignores_grouping_and_case_but_not_the_user() {
        let h = recovery_code_hash(7, "k7mq-zah3-xp9r-2bcd");
        assert_eq!(h, recovery_code_hash(7, "K7MQ ZAH3 XP9R 2BCD"));
        assert_eq!(h, recovery_code_hash(7, "k7mqzah3xp9r2bcd"));
        assert_ne!(h, recovery_code_hash(8, "k7mq-zah3-xp9r-2bcd"));
        assert_ne!(h, recovery_code_hash(7, "k7mq-zah3-xp9r-2bce"));
        assert_eq!(h.len(), 64);
        assert!(!looks_like_recovery_code("k7mq-zah3-xp9r"));
        assert!(!looks_like_recovery_code("k7mq-zah3-xp9r-2bc0"), "0 is not in the alphabet");
    }
}
