//! `ApiError`: every failure a handler can return, rendered in the contract's error envelope
//! `{success:false, message, …}`. Internal details are logged once here and never returned.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::store::WriteError;

/// Boxed source of an internal error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One field-level validation problem (`errors[]` items of the contract).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    /// Dotted path of the field (`businessAddress.city`).
    pub field: String,
    /// Human-readable message naming the field.
    pub message: String,
    /// The offending value, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Value)]
    pub value: Option<Value>,
    /// Stable kind of the problem, for programs (the message's wording may change): `required`,
    /// `not_allowed`, `duplicate`, `empty`, `length`, `range`, `one_of`, `type`, `format`,
    /// `malformed` or `invalid`.
    #[schema(example = "required")]
    pub code: &'static str,
}

impl FieldError {
    /// A problem with `field`; its `code` is read from the (Joi-style) message.
    pub fn new(field: impl Into<String>, message: impl Into<String>, value: Option<Value>) -> Self {
        let message = message.into();
        Self {
            field: field.into(),
            code: field_code(&message),
            message,
            value,
        }
    }
}

/// The stable code of a Joi-style field message (`"price" must be a number` is `type`). The
/// messages come from a closed set of templates in `validate`, `extract` and `routes::params`;
/// `field_codes_cover_every_message_template` holds the two together.
pub fn field_code(message: &str) -> &'static str {
    // Past the quoted field name, so a field called "required" cannot confuse the match.
    let rest = message
        .strip_prefix('"')
        .and_then(|m| m.split_once('"'))
        .map_or(message, |(_, rest)| rest);
    const RULES: &[(&str, &str)] = &[
        ("is required", "required"),
        ("is not allowed to be empty", "empty"),
        ("is not allowed", "not_allowed"),
        ("must be given once", "duplicate"),
        ("length must be", "length"),
        ("must contain between", "length"),
        ("must be one of", "one_of"),
        ("must be greater than", "range"),
        ("must be less than", "range"),
        ("must be between", "range"),
        ("must be a valid", "format"),
        ("has an invalid format", "format"),
        ("must be in ISO 8601", "format"),
        ("must be a", "type"),
        ("must be an", "type"),
    ];
    RULES
        .iter()
        .find(|(pattern, _)| rest.contains(pattern))
        .map_or("invalid", |(_, code)| code)
}

/// Errors returned by handlers and extractors.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Body, query or path failed validation (400 with `errors[]`).
    #[error("{message}")]
    Validation {
        /// `Validation failed`, `Query validation failed` or `Parameter validation failed`.
        message: &'static str,
        /// One entry per bad field.
        errors: Vec<FieldError>,
    },
    /// Any other client mistake (400).
    #[error("{0}")]
    BadRequest(String),
    /// Authentication failed (401), with optional extra keys.
    #[error("{message}")]
    Unauthorized {
        /// Message.
        message: String,
        /// Extra top-level keys (e.g. `attemptsRemaining`).
        extra: Option<Map<String, Value>>,
    },
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// The caller's role lacks a permission (403 naming it, contract §2.4).
    #[error("Forbidden: Insufficient permissions")]
    PermissionDenied {
        /// The `resource:action` permission the route needs.
        required: &'static str,
        /// The caller's role (`owner` for merchant-owner tokens).
        user_role: String,
    },
    /// Missing resource (404).
    #[error("{0}")]
    NotFound(String),
    /// Conflicting state, e.g. not enough stock (409).
    #[error("{message}")]
    Conflict {
        /// Message.
        message: String,
        /// Extra top-level keys.
        extra: Option<Map<String, Value>>,
    },
    /// Account locked (423) until the given ISO instant.
    #[error("{message}")]
    Locked {
        /// Message.
        message: String,
        /// ISO-8601 instant.
        locked_until: String,
    },
    /// Body over the size limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A rate limit tripped (429); the body is limiter-specific.
    #[error("too many requests")]
    TooManyRequests {
        /// Full response body.
        body: Value,
        /// Seconds until the window resets.
        retry_after: u64,
    },
    /// A dependency is unavailable (503).
    #[error("{0}")]
    Unavailable(String),
    /// Overloaded or a guard unavailable: try again after `retry_after` seconds (503 with
    /// `Retry-After`).
    #[error("{message}")]
    Busy {
        /// Message.
        message: &'static str,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// An opt-in protocol header's rule failed (`Idempotency-Key`, `If-Match`: 400, 409, 412,
    /// 422, 428), with its own stable code and any extra keys.
    #[error("{message}")]
    Protocol {
        /// Status.
        status: StatusCode,
        /// Stable code (`IDEMPOTENCY_KEY_REUSED`).
        code: &'static str,
        /// Message.
        message: String,
        /// Extra top-level keys.
        extra: Option<Map<String, Value>>,
    },
    /// Unexpected failure (500); `message` is returned, `source` only logged.
    #[error("{message}")]
    Internal {
        /// Client-facing message such as `Failed to create product`.
        message: &'static str,
        /// Logged cause.
        #[source]
        source: BoxError,
    },
}

impl ApiError {
    /// HTTP status of the error.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation { .. } | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::PermissionDenied { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Locked { .. } => StatusCode::LOCKED,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Protocol { status, .. } => *status,
        }
    }

    /// The stable `code` of the error body (the status alone is too coarse for programs).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "VALIDATION_ERROR",
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::Unauthorized { .. } => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::PermissionDenied { .. } => "PERMISSION_DENIED",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict { .. } => "CONFLICT",
            Self::Locked { .. } => "ACCOUNT_LOCKED",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::TooManyRequests { .. } => "RATE_LIMITED",
            Self::Unavailable(_) => "SERVICE_UNAVAILABLE",
            Self::Busy { .. } => "OVERLOADED",
            Self::Internal { .. } => "INTERNAL_ERROR",
            Self::Protocol { code, .. } => code,
        }
    }

    /// A 401 with just a message.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized {
            message: message.into(),
            extra: None,
        }
    }

    /// A 400 validation error for a single field.
    pub fn field(message: &'static str, field: &str, text: impl Into<String>) -> Self {
        Self::Validation {
            message,
            errors: vec![FieldError::new(field, text, None)],
        }
    }

    /// Wrap an unexpected error, returning `message` to the client.
    pub fn internal(message: &'static str) -> impl FnOnce(mongodb::error::Error) -> Self {
        move |source| Self::Internal {
            message,
            source: Box::new(source),
        }
    }

    fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("success".into(), Value::Bool(false));
        match self {
            Self::TooManyRequests { body, .. } => return body.clone(),
            Self::Validation { message, errors } => {
                body.insert("message".into(), json!(message));
                body.insert("errors".into(), json!(errors));
            }
            Self::Unauthorized { message, extra }
            | Self::Conflict { message, extra }
            | Self::Protocol { message, extra, .. } => {
                body.insert("message".into(), json!(message));
                body.extend(extra.clone().unwrap_or_default());
            }
            Self::PermissionDenied {
                required,
                user_role,
            } => {
                body.insert("message".into(), json!(self.to_string()));
                body.insert("required".into(), json!(required));
                body.insert("userRole".into(), json!(user_role));
            }
            Self::Locked {
                message,
                locked_until,
            } => {
                body.insert("message".into(), json!(message));
                body.insert("lockedUntil".into(), json!(locked_until));
            }
            other => {
                body.insert("message".into(), json!(other.to_string()));
            }
        }
        Value::Object(body)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let Self::Internal { source, message } = &self {
            tracing::error!(error = %source, error.debug = ?source, message, "request failed");
        }
        let retry_after = match &self {
            Self::TooManyRequests { retry_after, .. } | Self::Busy { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        };
        let mut response = (status, Json(self.body())).into_response();
        response.extensions_mut().insert(ErrorCode(self.code()));
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The stable code of an error response, for the error-contract layer to write into the body
/// (with the request id, which only the layer knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// The code of an error response that did not come from an [`ApiError`] (a layer's 408, 413 or
/// 503, the global 404).
pub fn status_code_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        408 => "REQUEST_TIMEOUT",
        409 => "CONFLICT",
        412 => "PRECONDITION_FAILED",
        413 => "PAYLOAD_TOO_LARGE",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        422 => "UNPROCESSABLE_ENTITY",
        423 => "ACCOUNT_LOCKED",
        428 => "PRECONDITION_REQUIRED",
        429 => "RATE_LIMITED",
        503 => "SERVICE_UNAVAILABLE",
        504 => "GATEWAY_TIMEOUT",
        _ if status.is_client_error() => "CLIENT_ERROR",
        _ => "INTERNAL_ERROR",
    }
}

/// Map a unique-index violation to a client error, anything else to a 500 with `message`.
pub fn on_duplicate_key(
    duplicate: impl FnOnce() -> ApiError,
    message: &'static str,
) -> impl FnOnce(WriteError) -> ApiError {
    move |e| match e {
        WriteError::DuplicateKey(_) => duplicate(),
        WriteError::Database(e) => ApiError::internal(message)(e),
    }
}

/// An error and its sources, joined with `: ` (for logs, reports and the terminal).
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    message
}

/// A panicking handler answers 500 in the error envelope (the panic itself is logged).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "handler panicked");
    let body = json!({ "success": false, "message": "Internal server error" });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_codes_cover_every_message_template() {
        let cases = [
            ("\"email\" is required", "required"),
            ("\"name\" is not allowed to be empty", "empty"),
            ("\"extra\" is not allowed", "not_allowed"),
            ("\"page\" must be given once", "duplicate"),
            (
                "\"name\" length must be at least 2 characters long",
                "length",
            ),
            (
                "\"name\" length must be less than or equal to 9 characters long",
                "length",
            ),
            ("\"ids\" must contain between 1 and 100 items", "length"),
            ("\"status\" must be one of [active, draft]", "one_of"),
            ("\"price\" must be greater than or equal to 0", "range"),
            ("\"limit\" must be less than or equal to 100", "range"),
            ("\"days\" must be between 1 and 365", "range"),
            ("\"email\" must be a valid email", "format"),
            ("\"id\" must be a valid id", "format"),
            ("\"ids[2]\" must be a valid id", "format"),
            ("\"from\" must be a valid ISO date", "format"),
            ("\"phone\" has an invalid format", "format"),
            ("\"date\" must be in ISO 8601 date format", "format"),
            ("\"price\" must be a number", "type"),
            ("\"stock\" must be an integer", "type"),
            ("\"tags\" must be an array", "type"),
            ("Column \"name\" is required", "required"),
            // The quoted name is not read as the rule.
            ("\"is required\" must be a number", "type"),
            ("expected value at line 1 column 2", "invalid"),
        ];
        for (message, code) in cases {
            assert_eq!(field_code(message), code, "{message}");
        }
    }

    #[test]
    fn every_api_error_has_a_distinct_status_family_code() {
        let e = ApiError::field("Validation failed", "email", "\"email\" is required");
        assert_eq!(e.code(), "VALIDATION_ERROR");
        let ApiError::Validation { errors, .. } = &e else {
            unreachable!()
        };
        assert_eq!(errors[0].code, "required");
        let response = e.into_response();
        assert_eq!(
            response.extensions().get::<ErrorCode>(),
            Some(&ErrorCode("VALIDATION_ERROR"))
        );
        assert_eq!(status_code_name(StatusCode::IM_A_TEAPOT), "CLIENT_ERROR");
        assert_eq!(status_code_name(StatusCode::BAD_GATEWAY), "INTERNAL_ERROR");
    }
}
