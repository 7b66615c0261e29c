//! Kubernetes `Status` errors and field errors, with the texts kube-apiserver uses.

use serde_json::{Map, Value, json};

pub(crate) use go_compat::strconv::{go_quote, go_syntax};

/// The type of a field error (`k8s.io/apimachinery/pkg/util/validation/field`).
pub(crate) use kube_schema::ErrorType as FieldErrorType;

/// The offending value of a field error, rendered like Go's field.Error does.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum BadValue {
    /// Not printed.
    Omit,
    /// A string, printed quoted (`"abc"`).
    Str(String),
    /// Printed as is (numbers, booleans, `0x0`, `null`...).
    Raw(String),
}

impl BadValue {
    /// How Go prints a JSON value that failed validation.
    pub(crate) fn from_json(v: &Value) -> BadValue {
        match v {
            // apimachinery prints a nil bad value as the quoted string "null".
            Value::Null => BadValue::Str("null".into()),
            Value::String(s) => BadValue::Str(s.clone()),
            other => BadValue::Raw(go_syntax(other)),
        }
    }
}

/// One validation error of one field.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FieldError {
    pub typ: FieldErrorType,
    pub field: String,
    pub value: BadValue,
    pub detail: String,
}

impl FieldError {
    pub(crate) fn new(
        typ: FieldErrorType,
        field: impl Into<String>,
        value: BadValue,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError {
            typ,
            field: field.into(),
            value,
            detail: detail.into(),
        }
    }

    pub(crate) fn required(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::new(FieldErrorType::Required, field, BadValue::Omit, detail)
    }

    pub(crate) fn invalid_str(
        field: impl Into<String>,
        value: &str,
        detail: impl Into<String>,
    ) -> FieldError {
        FieldError::new(
            FieldErrorType::Invalid,
            field,
            BadValue::Str(value.to_string()),
            detail,
        )
    }

    pub(crate) fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> FieldError {
        FieldError::new(FieldErrorType::Forbidden, field, BadValue::Omit, detail)
    }

    pub(crate) fn not_supported(
        field: impl Into<String>,
        value: BadValue,
        supported: &[String],
    ) -> FieldError {
        let list = supported
            .iter()
            .map(|s| go_quote(s))
            .collect::<Vec<_>>()
            .join(", ");
        FieldError::new(
            FieldErrorType::NotSupported,
            field,
            value,
            format!("supported values: {list}"),
        )
    }

    /// The message without the field (`ErrorBody()` in Go).
    pub(crate) fn body(&self) -> String {
        let mut s = match (self.typ, &self.value) {
            (FieldErrorType::Required | FieldErrorType::Forbidden | FieldErrorType::TooLong, _)
            | (_, BadValue::Omit) => self.typ.text().to_string(),
            (_, BadValue::Str(v)) => format!("{}: {}", self.typ.text(), go_quote(v)),
            (_, BadValue::Raw(v)) => format!("{}: {}", self.typ.text(), v),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }

    /// The full message (`Error()` in Go).
    pub(crate) fn message(&self) -> String {
        if self.field.is_empty() {
            self.body()
        } else {
            format!("{}: {}", self.field, self.body())
        }
    }
}

/// An error answered as a Kubernetes `Status` object (boxed: it travels in `Result`s).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiError(Box<ApiErrorData>);

impl std::ops::Deref for ApiError {
    type Target = ApiErrorData;
    fn deref(&self) -> &ApiErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ApiErrorData {
        &mut self.0
    }
}

/// The content of an [`ApiError`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ApiErrorData {
    pub code: u16,
    pub reason: String,
    pub message: String,
    /// `details`; `None` leaves the key out.
    pub details: Option<Value>,
    pub retry_after: Option<u64>,
}

fn details(name: &str, group: &str, kind: &str) -> Value {
    let mut m = Map::new();
    if !name.is_empty() {
        m.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        m.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        m.insert("kind".into(), json!(kind));
    }
    Value::Object(m)
}

/// `plural` or `plural.group`, as Go prints a GroupResource.
pub(crate) fn group_resource(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &str, message: impl Into<String>) -> ApiError {
        ApiError(Box::new(ApiErrorData {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
            retry_after: None,
        }))
    }

    pub(crate) fn with_details(mut self, d: Value) -> ApiError {
        self.details = Some(d);
        self
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message)
    }

    /// The 404 of a path the server does not serve at all.
    pub(crate) fn path_not_found() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub(crate) fn method_not_allowed() -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
        .with_details(json!({}))
    }

    pub(crate) fn not_found(group: &str, plural: &str, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!(
                "{} {} not found",
                group_resource(group, plural),
                go_quote(name)
            ),
        )
        .with_details(details(name, group, plural))
    }

    pub(crate) fn already_exists(group: &str, plural: &str, name: &str) -> ApiError {
        ApiError::new(
            409,
            "AlreadyExists",
            format!(
                "{} {} already exists",
                group_resource(group, plural),
                go_quote(name)
            ),
        )
        .with_details(details(name, group, plural))
    }

    pub(crate) fn conflict(group: &str, plural: &str, name: &str, why: &str) -> ApiError {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} {}: {why}",
                group_resource(group, plural),
                go_quote(name)
            ),
        )
        .with_details(details(name, group, plural))
    }

    pub(crate) fn modified_conflict(group: &str, plural: &str, name: &str) -> ApiError {
        ApiError::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub(crate) fn forbidden(group: &str, plural: &str, name: &str, why: &str) -> ApiError {
        ApiError::new(
            403,
            "Forbidden",
            format!(
                "{} {} is forbidden: {why}",
                group_resource(group, plural),
                go_quote(name)
            ),
        )
        .with_details(details(name, group, plural))
    }

    /// 422 Invalid. `kind` is a Kind (`IPPool`) or, where the real server does so, a
    /// resource (`ippools`).
    pub(crate) fn invalid(group: &str, kind: &str, name: &str, errs: &[FieldError]) -> ApiError {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut seen: Vec<String> = Vec::new();
        for e in errs {
            let m = e.message();
            if !seen.contains(&m) {
                seen.push(m);
            }
        }
        let message = match seen.len() {
            0 => format!("{qualified} {} is invalid", go_quote(name)),
            1 => format!("{qualified} {} is invalid: {}", go_quote(name), seen[0]),
            _ => format!(
                "{qualified} {} is invalid: [{}]",
                go_quote(name),
                seen.join(", ")
            ),
        };
        let causes: Vec<Value> = errs
            .iter()
            .map(|e| json!({"reason": e.typ.reason(), "message": e.body(), "field": e.field}))
            .collect();
        let mut d = details(name, group, kind);
        if let Value::Object(m) = &mut d {
            m.insert("causes".into(), Value::Array(causes));
        }
        ApiError::new(422, "Invalid", message).with_details(d)
    }

    /// The 422 a failed JSON patch gets (`NewGenericServerResponse`).
    pub(crate) fn unprocessable(server_message: &str) -> ApiError {
        ApiError::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
        )
        .with_details(
            json!({"causes": [{"reason": "UnexpectedServerResponse", "message": server_message}]}),
        )
    }

    pub(crate) fn unsupported_media_type(accepted: &[&str]) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
        )
        .with_details(json!({}))
    }

    pub(crate) fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message)
    }

    pub(crate) fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// The answer to a write that fault injection makes fail.
    pub(crate) fn injected(code: u16, retry_after: Option<u64>) -> ApiError {
        let (reason, message) = match code {
            400 => ("BadRequest", "injected fault".to_string()),
            401 => ("Unauthorized", "Unauthorized".to_string()),
            403 => ("Forbidden", "forbidden: injected fault".to_string()),
            404 => (
                "NotFound",
                "the server could not find the requested resource".to_string(),
            ),
            409 => (
                "Conflict",
                "Operation cannot be fulfilled: injected fault".to_string(),
            ),
            410 => ("Expired", "injected fault".to_string()),
            429 => (
                "TooManyRequests",
                "Too many requests, please try again later.".to_string(),
            ),
            500 => (
                "InternalError",
                "Internal error occurred: injected fault".to_string(),
            ),
            503 => (
                "ServiceUnavailable",
                "the server is currently unable to handle the request".to_string(),
            ),
            504 => (
                "Timeout",
                "the server was unable to return a response in the time allotted, but may still be processing the request".to_string(),
            ),
            c => (
                "Unknown",
                format!("the server responded with the status code {c} but did not return more information"),
            ),
        };
        let mut d = Map::new();
        if code == 500 {
            d.insert("causes".into(), json!([{"message": "injected fault"}]));
        }
        if let Some(r) = retry_after {
            d.insert("retryAfterSeconds".into(), json!(r));
        }
        let mut e = ApiError::new(code, reason, message);
        if !d.is_empty() {
            e.details = Some(Value::Object(d));
        }
        e.retry_after = retry_after;
        e
    }

    /// The `Status` object.
    pub(crate) fn to_status(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), json!("Status"));
        m.insert("apiVersion".into(), json!("v1"));
        m.insert("metadata".into(), json!({}));
        m.insert("status".into(), json!("Failure"));
        m.insert("message".into(), json!(self.message));
        m.insert("reason".into(), json!(self.reason));
        if let Some(d) = &self.details {
            m.insert("details".into(), d.clone());
        }
        m.insert("code".into(), json!(self.code));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_error_texts() {
        let e = FieldError::new(
            FieldErrorType::TypeInvalid,
            "spec.deleted",
            BadValue::Str("boolean".into()),
            "spec.deleted in body must be of type string: \"boolean\"",
        );
        assert_eq!(
            e.message(),
            "spec.deleted: Invalid value: \"boolean\": spec.deleted in body must be of type string: \"boolean\""
        );
        assert_eq!(
            FieldError::required("spec.strictAffinity", "").message(),
            "spec.strictAffinity: Required value"
        );
        let ns = FieldError::not_supported(
            "spec.x",
            BadValue::Str("Foo".into()),
            &["A".into(), "B".into()],
        );
        assert_eq!(
            ns.message(),
            "spec.x: Unsupported value: \"Foo\": supported values: \"A\", \"B\""
        );
    }

    #[test]
    fn invalid_aggregates_and_dedups() {
        let a = FieldError::required("spec.a", "");
        let b = FieldError::required("spec.b", "");
        let e = ApiError::invalid("g.io", "Foo", "x", &[a.clone(), b, a]);
        assert_eq!(
            e.message,
            "Foo.g.io \"x\" is invalid: [spec.a: Required value, spec.b: Required value]"
        );
        assert_eq!(
            e.details.clone().unwrap()["causes"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
