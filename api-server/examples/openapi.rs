//! Prints the OpenAPI document built from the route and schema annotations: the generator of
//! `docs/openapi.json` (`scripts/generate`). The server binary serves the committed file.
//!
//!   cargo run -p merchant-api --example openapi > docs/openapi.json

fn main() {
    println!("{}", merchant_api::openapi::to_json());
}
