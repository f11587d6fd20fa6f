//! Credentials: password hashing, JSON Web Tokens and one-time e-mail tokens.

pub mod access;
pub mod jwt;
pub mod password;
pub mod token;
