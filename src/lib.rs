//! kubectl calico-migrate: move Calico from the etcd datastore to the Kubernetes datastore.
//!
//! `main.rs` only calls [`main`]. The layers below are: [`cli`] (flags), [`app`] (connections
//! shared by commands), [`commands`] (one module per subcommand), the two datastores
//! ([`etcd`], [`kdd`]), the pure conversion core ([`convert`], [`kinds`], [`format`]), and
//! [`console`], the one owner of output.

// Errors here carry what was tried (sources, paths, endpoints) so that the message can say it;
// they travel once, on the way out, so their size does not matter.
#![allow(clippy::result_large_err)]

pub mod app;
pub mod atomic_file;
pub mod cli;
pub mod commands;
pub mod console;
pub mod convert;
pub mod error;
pub mod etcd;
pub mod format;
pub mod kdd;
pub mod kinds;
pub mod pipeline;
pub mod snapshot;

use std::process::ExitCode;

use clap::Parser;

use app::App;
use cli::{Cli, Command};
use console::Console;
use error::Error;

/// Parses the command line, runs the command, reports any failure, and returns the exit code.
pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .is_some_and(|a| a == commands::completion::COMPLETE_COMMAND)
    {
        return commands::completion::complete_main(&args[2..]);
    }
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                error::EXIT_USAGE
            } else {
                0
            });
        }
    };
    let console = Console::new(cli.global.quiet, cli.global.verbose, cli.global.output);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            console.error(
                &format!("cannot start the async runtime: {error}"),
                &[],
                None,
            );
            return ExitCode::from(error::EXIT_FAILED);
        }
    };
    let app = App {
        args: &cli.global,
        console: &console,
    };
    match runtime.block_on(run(&app, &cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.is_broken_pipe() => ExitCode::SUCCESS,
        Err(error) => {
            console.error(&error.to_string(), &error.causes(), error.hint().as_deref());
            error.exit_code()
        }
    }
}

async fn run(app: &App<'_>, command: &Command) -> Result<(), Error> {
    match command {
        Command::Status => commands::status::run(app).await,
        Command::Lock(args) => commands::lock::run(app, args.datastore, true).await,
        Command::Unlock(args) => commands::lock::run(app, args.datastore, false).await,
        Command::Export(args) => commands::export::run(app, args).await,
        Command::Import(args) => commands::import::run(app, args).await,
        Command::Verify(args) => commands::verify::run(app, args).await,
        Command::Version => commands::version::run(app),
        Command::Completion(args) => commands::completion::run(app, args),
    }
}
