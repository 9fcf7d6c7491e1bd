//! The `simple-im` command: the server, the client, and tools for operators.
//!
//! Exit codes follow one rule across subcommands: 0 success, 1 the input was examined and found wrong
//! (or the operation failed), 2 the command line itself was wrong.

use clap::{Parser, Subcommand};
use simple_im_tokio::inspect::{self, Kind};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "simple-im", version, about = "OMA SIMPLE IM 2.0 server, client and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check one captured message and print a readable summary.
    ///
    /// FILE is one message (for SIP, one datagram: bytes after the body that Content-Length excludes
    /// are reported and ignored); `-` reads standard input. The kind is detected from the content
    /// unless --as names it. Exits 0 when the message is valid, 1 with the reason (what, at which line
    /// and byte) when it is malformed or violates its RFC, 2 on usage errors.
    Parse {
        /// The file to read, or `-` for standard input.
        file: PathBuf,
        /// Parse as this kind instead of detecting it.
        #[arg(long = "as", value_enum)]
        kind: Option<Kind>,
    },
    /// Run the IM server (registrar, proxy, pager mode, deferred messaging).
    ///
    /// Not available yet: the server roles are being built (see README.md, "What works today").
    Server,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Parse { file, kind } => parse(&file, kind),
        Command::Server => {
            eprintln!("simple-im server: not available yet in this version; only `simple-im parse` is");
            ExitCode::from(1)
        }
    }
}

fn parse(file: &std::path::Path, kind: Option<Kind>) -> ExitCode {
    let bytes = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf) {
            eprintln!("simple-im parse: cannot read standard input: {e}");
            return ExitCode::from(2);
        }
        buf
    } else {
        match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("simple-im parse: cannot read {}: {e}", file.display());
                return ExitCode::from(2);
            }
        }
    };
    let name = if file.as_os_str() == "-" { "<stdin>".to_string() } else { file.display().to_string() };
    match inspect::inspect(&bytes, kind) {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("{name}: invalid: {reason}");
            ExitCode::from(1)
        }
    }
}
