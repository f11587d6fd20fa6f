//! Credentials: password hashing, JSON Web Tokens (and the request's verified identity) and
//! one-time e-mail tokens.

pub mod access;
pub mod identity;
pub mod jwt;
pub mod password;
pub mod token;
