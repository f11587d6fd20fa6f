//! Credentials: password hashing, JSON Web Tokens and scoped API keys (and the request's
//! verified identity), and one-time e-mail tokens.

pub mod access;
pub mod api_key;
pub mod identity;
pub mod jwt;
pub mod password;
pub mod token;
