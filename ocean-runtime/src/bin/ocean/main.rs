//! The `ocean` command: try a mapping without a server (`map`), send signed payloads to a running
//! integration (`send`).

// A command-line tool: standard output is its interface.
#![allow(clippy::print_stdout)]

mod bench;
mod dlq;
mod fake_port;
mod faults;
mod load;
mod map;
mod send;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "ocean", version, about = "Tools for ocean integrations")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Map raw items with a Port app config and print the entities (one JSON object per line).
    Map(map::Args),
    /// POST payloads to a running integration with the provider's headers and a valid signature.
    Send(send::Args),
    /// List, inspect, replay and delete dead letters of a running integration.
    Dlq(dlq::Args),
    /// Measure the ceiling, intake, end to end, latency and memory in one run.
    Bench(bench::Args),
    /// Kill, terminate, storm and starve (a faulty Port) a running example; show that no acknowledged event is lost.
    Faults(faults::Args),
}

fn main() -> std::process::ExitCode {
    // The servers the harnesses start (ceiling, Port on loopback) would announce their workers at info.
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,actix_server=warn".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
    ocean::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Map(a) => map::run(a),
        Command::Send(a) => send::run(a),
        Command::Dlq(a) => dlq::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Faults(a) => faults::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
