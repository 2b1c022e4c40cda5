//! `davit import contacts|calendar OWNER/NAME FILE [--create]`: the same import as the API's
//! `POST /api/v1/{addressbooks|calendars}/OWNER/NAME/import`, run as the operator. It opens the
//! database directly (safe while the server runs); sync clients see the imports on their next
//! sync. Prints the report; exits non-zero when nothing could be imported.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::app;
use crate::config::Config;
use crate::import::{self, Outcome, Report, limits};
use crate::org::Actor;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a vCard (.vcf, vCard 2.1/3.0/4.0) or CSV file (Outlook, Office 365, Google,
    /// Thunderbird, Apple, Yahoo or generic columns) into an address book.
    Contacts(ImportArgs),
    /// Import an iCalendar (.ics) file into a calendar: one object per UID, series kept whole.
    Calendar(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The target collection, e.g. alice/contacts.
    #[arg(value_name = "OWNER/NAME")]
    pub collection: String,
    /// The file to import; `-` reads standard input.
    pub file: PathBuf,
    /// Create the address book or calendar if it does not exist.
    #[arg(long)]
    pub create: bool,
    /// Print the report as JSON (the API's format) instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config: Config, cmd: ImportCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let (args, calendar) = match &cmd {
        ImportCommand::Contacts(a) => (a, false),
        ImportCommand::Calendar(a) => (a, true),
    };
    let data = read_file(&args.file)?;
    let run = if calendar { import::calendar } else { import::contacts };
    let report = run(store.as_ref(), Actor::Operator, &args.collection, &data, args.create)
        .with_context(|| format!("cannot import {} into {}", args.file.display(), args.collection))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if report.imported() == 0 {
        bail!("nothing could be imported from {}", args.file.display());
    }
    Ok(())
}

/// The file, refused before it is read when it is over the size limit.
fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limits::MAX_BYTES as u64 + 1)
            .read_to_end(&mut data)
            .context("cannot read standard input")?;
        return Ok(data);
    }
    let size = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len();
    if size > limits::MAX_BYTES as u64 {
        bail!(
            "{} has {size} bytes; at most {} (50 MB) can be imported at once",
            path.display(),
            limits::MAX_BYTES
        );
    }
    std::fs::File::open(path)
        .and_then(|f| f.take(limits::MAX_BYTES as u64 + 1).read_to_end(&mut data))
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(data)
}

fn print_report(report: &Report) {
    let created = if report.collection_created { " (created)" } else { "" };
    println!("{}{created}: read as {}", report.collection, report.format);
    for e in report.items.iter().filter(|e| e.outcome == Outcome::Skipped) {
        println!("  line {}: skipped: {}", e.line, e.reason.as_deref().unwrap_or("?"));
    }
    println!("{}", report.summary());
}
