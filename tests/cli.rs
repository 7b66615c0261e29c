//! The command line as users see it: usage reads `kubectl calico-migrate`, only working commands
//! are listed, and usage errors exit 2.

mod common;

use common::{assert_contains, stderr, stdout};

#[test]
fn help_lists_the_commands_that_work() {
    let output = common::plugin(std::path::Path::new("/nonexistent"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn usage_errors_exit_2() {
    let output = common::plugin(std::path::Path::new("/nonexistent"))
        .args(["lock"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "--datastore <DATASTORE>");
    let output = common::plugin(std::path::Path::new("/nonexistent"))
        .args(["import", "-f", "x", "--concurrency", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = common::plugin(std::path::Path::new("/nonexistent"))
        .args(["status", "--request-timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_contains(&stderr(&output), "invalid duration \"soon\"");
}
