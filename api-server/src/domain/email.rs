//! Account identity values: e-mail addresses, passwords and phone numbers.

use secrecy::SecretString;

/// A lower-cased, trimmed e-mail address with a plausible shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Normalise and check an address.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim().to_lowercase();
        let valid = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.split('.').count() >= 2
                    && domain
                        .split('.')
                        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
                    && domain
                        .rsplit('.')
                        .next()
                        .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(char::is_alphabetic))
            });
        if valid {
            Ok(Self(s))
        } else {
            Err("must be a valid email")
        }
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: at least 6 characters (the contract's only rule), at most 128.
#[derive(Debug, Clone, Default)]
pub struct Password(pub SecretString);

impl Password {
    /// Check the policy.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        match raw.chars().count() {
            0..6 => Err("length must be at least 6 characters long"),
            129.. => Err("length must be less than or equal to 128 characters long"),
            _ => Ok(Self(SecretString::from(raw))),
        }
    }
}

/// A phone number: digits, `+`, `-`, spaces and parentheses, 5..20 characters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Check the shape.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let s = raw.trim();
        let ok = (5..=20).contains(&s.len())
            && s.chars().any(|c| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_digit() || "+-() ".contains(c));
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err("Invalid phone number format")
        }
    }

    /// The number as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ann@Shop.COM ").map(|e| e.0),
            Ok("ann@shop.com".into())
        );
        for bad in [
            "",
            "ann",
            "ann@shop",
            "a b@shop.com",
            "ann@@shop.com",
            "@shop.com",
            "ann@shop.c0m",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_need_six_characters() {
        assert!(Password::parse("12345").is_err());
        assert!(Password::parse("123456").is_ok());
    }

    #[test]
    fn phones_allow_digits_and_punctuation_only() {
        assert!(Phone::parse("+1 (555) 010-9999").is_ok());
        assert!(Phone::parse("call me").is_err());
    }
}
