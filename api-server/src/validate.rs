//! Field validation with Joi-style messages (`"email" must be a valid email`). Request types
//! deserialize leniently into `Option`s; a [`Validator`] turns them into typed values and
//! collects one [`FieldError`] per bad field, so every problem is reported at once.

use serde_json::Value;

use crate::error::{ApiError, FieldError};

/// Collects field errors while typed values are extracted.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

/// Length bounds of a string, in characters.
#[derive(Debug, Clone, Copy)]
pub struct Len(pub usize, pub usize);

impl Validator {
    /// An empty validator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record an error for `field`.
    pub fn error(&mut self, field: &str, message: impl Into<String>, value: Option<Value>) {
        self.errors.push(FieldError::new(field, message, value));
    }

    /// A required string within `len`; returns an empty string when invalid.
    pub fn text(&mut self, field: &str, value: Option<String>, len: Len) -> String {
        match value {
            None => {
                self.error(field, format!("\"{field}\" is required"), None);
                String::new()
            }
            Some(v) => self.check_len(field, v, len),
        }
    }

    /// An optional string within `len`.
    pub fn opt_text(&mut self, field: &str, value: Option<String>, len: Len) -> Option<String> {
        value.map(|v| self.check_len(field, v, len))
    }

    fn check_len(&mut self, field: &str, v: String, Len(min, max): Len) -> String {
        let n = v.chars().count();
        if v.trim().is_empty() && min > 0 {
            self.error(
                field,
                format!("\"{field}\" is not allowed to be empty"),
                Some(Value::String(v.clone())),
            );
        } else if n < min {
            self.error(
                field,
                format!("\"{field}\" length must be at least {min} characters long"),
                Some(Value::String(v.clone())),
            );
        } else if n > max {
            self.error(
                field,
                format!("\"{field}\" length must be less than or equal to {max} characters long"),
                Some(Value::String(v.clone())),
            );
        }
        v
    }

    /// Run a domain parser, recording its message under `field`.
    pub fn parse<T: Default, E: std::fmt::Display>(
        &mut self,
        field: &str,
        value: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> T {
        let Some(raw) = value else {
            self.error(field, format!("\"{field}\" is required"), None);
            return T::default();
        };
        self.parse_present(field, raw, parse)
    }

    /// Like [`Validator::parse`] for an optional field.
    pub fn opt_parse<T: Default, E: std::fmt::Display>(
        &mut self,
        field: &str,
        value: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        value.map(|raw| self.parse_present(field, raw, parse))
    }

    fn parse_present<T: Default, E: std::fmt::Display>(
        &mut self,
        field: &str,
        raw: String,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> T {
        parse(&raw).unwrap_or_else(|e| {
            self.error(field, format!("\"{field}\" {e}"), Some(Value::String(raw)));
            T::default()
        })
    }

    /// A required number within `[min, max]`.
    pub fn number(&mut self, field: &str, value: Option<f64>, min: f64, max: f64) -> f64 {
        match value {
            None => {
                self.error(field, format!("\"{field}\" is required"), None);
                0.0
            }
            Some(v) => self.check_number(field, v, min, max),
        }
    }

    /// An optional number within `[min, max]`.
    pub fn opt_number(
        &mut self,
        field: &str,
        value: Option<f64>,
        min: f64,
        max: f64,
    ) -> Option<f64> {
        value.map(|v| self.check_number(field, v, min, max))
    }

    fn check_number(&mut self, field: &str, v: f64, min: f64, max: f64) -> f64 {
        if !v.is_finite() || v < min {
            self.error(
                field,
                format!("\"{field}\" must be greater than or equal to {min}"),
                Some(v.into()),
            );
        } else if v > max {
            self.error(
                field,
                format!("\"{field}\" must be less than or equal to {max}"),
                Some(v.into()),
            );
        }
        v
    }

    /// An optional integer within `[min, max]`.
    pub fn opt_int(&mut self, field: &str, value: Option<i64>, min: i64, max: i64) -> Option<i64> {
        value.inspect(|&v| {
            if v < min {
                self.error(
                    field,
                    format!("\"{field}\" must be greater than or equal to {min}"),
                    Some(v.into()),
                );
            } else if v > max {
                self.error(
                    field,
                    format!("\"{field}\" must be less than or equal to {max}"),
                    Some(v.into()),
                );
            }
        })
    }

    /// A value from a fixed list; `None` when absent.
    pub fn one_of(
        &mut self,
        field: &str,
        value: Option<String>,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        let raw = value?;
        let found = allowed.iter().find(|a| **a == raw).copied();
        if found.is_none() {
            self.error(
                field,
                format!("\"{field}\" must be one of [{}]", allowed.join(", ")),
                Some(Value::String(raw)),
            );
        }
        found
    }

    /// True when no error was recorded.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// `Ok(())` or a 400 `Validation failed` with every recorded error.
    pub fn finish(self) -> Result<(), ApiError> {
        self.finish_as("Validation failed")
    }

    /// Like [`Validator::finish`] with another envelope message.
    pub fn finish_as(self, message: &'static str) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation {
                message,
                errors: self.errors,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_collected_with_joi_wording() {
        let mut v = Validator::new();
        v.text("businessName", Some("A".into()), Len(2, 100));
        v.text("ownerName", None, Len(2, 50));
        v.number("price", Some(-1.0), 0.0, f64::MAX);
        let Err(ApiError::Validation { errors, .. }) = v.finish() else {
            panic!("expected errors")
        };
        let messages: Vec<_> = errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "\"businessName\" length must be at least 2 characters long",
                "\"ownerName\" is required",
                "\"price\" must be greater than or equal to 0",
            ]
        );
    }
}
