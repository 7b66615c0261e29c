//! The command-line layer: one module per subcommand, each running its stage and rendering the
//! stage's report for people (text) or as data (`-o json|yaml`).

pub mod completion;
pub mod export;
pub mod import;
pub mod lock;
pub mod plan;
pub mod rollback;
pub mod run;
pub mod status;
pub mod verify;
pub mod version;
