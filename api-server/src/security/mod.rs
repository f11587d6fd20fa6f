//! Credentials: password hashing, JSON Web Tokens and scoped API keys (and the request's
//! verified identity), one-time e-mail tokens and the key that signs list cursors.

pub mod access;
pub mod api_key;
pub mod cursor_key;
pub mod identity;
pub mod jwt;
pub mod password;
pub mod token;
