//! Field errors as apimachinery's `field.Error` prints them: the type, the field, the bad value
//! (rendered as Go renders it) and the detail, joined into the message kube-apiserver puts in
//! the causes of its 422 `Status`.

use std::fmt;

use go_compat::strconv::go_quote;

/// The type of a field error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    Required,
    Invalid,
    TypeInvalid,
    NotSupported,
    TooLong,
    TooMany,
    Duplicate,
    Forbidden,
}

impl ErrorType {
    /// The cause's `reason` in a `Status`.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Forbidden => "FieldValueForbidden",
        }
    }

    /// How the message names the type.
    pub fn text(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid | ErrorType::TypeInvalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Forbidden => "Forbidden",
        }
    }

    /// Types whose message never shows the bad value.
    fn omits_value(self) -> bool {
        matches!(
            self,
            ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong
        )
    }
}

/// One cause of a rejection, worded as kube-apiserver words the causes of its 422 `Status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Where: `spec.ports[1].port`. Map keys are joined with a dot, as the API server joins
    /// them: `spec.block.10.0.0.0/30`. Set for the verdicts of anyOf and the like too, whose
    /// printed field is `<nil>`.
    pub path: String,
    pub kind: ErrorType,
    /// The field as the message prints it: the path, or `<nil>`.
    pub field: String,
    /// The bad value as Go prints it (strings quoted), when the message shows one.
    pub bad: Option<String>,
    pub detail: String,
    /// The whole cause, field first:
    /// `spec.ports[1].port: Invalid value: "string": spec.ports[1].port in body must be of type integer: "string"`.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl FieldError {
    /// An error of `kind` at `path` (`<nil>` when empty).
    pub fn new(
        kind: ErrorType,
        path: &str,
        bad: Option<String>,
        detail: impl Into<String>,
    ) -> FieldError {
        let field = if path.is_empty() { "<nil>" } else { path };
        FieldError::at(kind, path, field, bad, detail.into())
    }

    fn at(
        kind: ErrorType,
        path: &str,
        field: &str,
        bad: Option<String>,
        detail: String,
    ) -> FieldError {
        let bad = if kind.omits_value() { None } else { bad };
        let mut message = format!("{field}: {}", kind.text());
        if let Some(bad) = &bad {
            message.push_str(": ");
            message.push_str(bad);
        }
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(&detail);
        }
        FieldError {
            path: path.to_string(),
            kind,
            field: field.to_string(),
            bad,
            detail,
            message,
        }
    }

    /// The message without the field (Go's `ErrorBody()`).
    pub fn body(&self) -> &str {
        &self.message[self.field.len() + 2..]
    }

    /// apimachinery's `field.Invalid`.
    pub fn invalid(path: &str, bad: String, detail: impl Into<String>) -> FieldError {
        FieldError::new(ErrorType::Invalid, path, Some(bad), detail)
    }

    /// apimachinery's `field.TypeInvalid` (printed as `field.Invalid` is).
    pub fn type_invalid(path: &str, bad: String, detail: impl Into<String>) -> FieldError {
        FieldError::new(ErrorType::TypeInvalid, path, Some(bad), detail)
    }

    pub fn required(path: &str) -> FieldError {
        FieldError::new(ErrorType::Required, path, None, "")
    }

    pub fn forbidden(path: &str, detail: impl Into<String>) -> FieldError {
        FieldError::new(ErrorType::Forbidden, path, None, detail)
    }

    pub fn not_supported(path: &str, bad: String, supported: &[String]) -> FieldError {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError::new(ErrorType::NotSupported, path, Some(bad), detail)
    }

    pub fn too_long(path: &str, detail: String) -> FieldError {
        FieldError::new(ErrorType::TooLong, path, None, detail)
    }

    pub fn too_many(path: &str, actual: usize, max: u64) -> FieldError {
        FieldError::new(
            ErrorType::TooMany,
            path,
            Some(actual.to_string()),
            format!("must have at most {max} items"),
        )
    }

    pub fn duplicate(path: &str, bad: String) -> FieldError {
        FieldError::new(ErrorType::Duplicate, path, Some(bad), "")
    }

    /// The verdicts of anyOf, oneOf, allOf and not, which the API server reports without a
    /// field (`<nil>`) and with the path quoted in the text; `path` still says where.
    pub fn composite(path: &str, detail: String) -> FieldError {
        FieldError::at(
            ErrorType::Invalid,
            path,
            "<nil>",
            Some("\"\"".to_string()),
            detail,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_print_as_apimachinery_prints_them() {
        assert_eq!(
            FieldError::required("spec.a").to_string(),
            "spec.a: Required value"
        );
        let ns = FieldError::not_supported("spec.x", go_quote("Foo"), &["A".into(), "B".into()]);
        assert_eq!(
            ns.message,
            "spec.x: Unsupported value: \"Foo\": supported values: \"A\", \"B\""
        );
        assert_eq!(
            ns.body(),
            "Unsupported value: \"Foo\": supported values: \"A\", \"B\""
        );
        let long = FieldError::too_long("spec.n", "may not be longer than 4".into());
        assert_eq!(long.message, "spec.n: Too long: may not be longer than 4");
        assert_eq!(
            FieldError::composite("spec.p", "x".into()).message,
            "<nil>: Invalid value: \"\": x"
        );
        assert_eq!(
            FieldError::duplicate("spec.s[1]", "\"x\"".into()).message,
            "spec.s[1]: Duplicate value: \"x\""
        );
    }
}
