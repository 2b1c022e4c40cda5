//! `davit feed enable|disable|regenerate OWNER/CALENDAR`: publish a calendar read-only at a
//! secret URL, stop publishing it, or replace its URL. They open the database directly, like
//! `davit user`, and take effect on the running server's next request.
//!
//! enable and regenerate print the URL (only its hash is stored: this is the one time it is
//! shown): the `webcal://` form for calendar apps, then the `http(s)://` form alone on the
//! last line, for scripts (`davit feed enable alice/calendar | tail -n1`).

use anyhow::Context;
use clap::Subcommand;

use crate::app;
use crate::config::Config;
use crate::feeds::{self, FeedError};
use crate::store::{FeedSettings, Store};

#[derive(Debug, Subcommand)]
pub enum FeedCommand {
    /// Publish a calendar read-only at a new secret URL and print the URL. On a calendar that
    /// is already public this applies the new options and replaces the URL.
    Enable {
        #[arg(value_name = "OWNER/CALENDAR")]
        calendar: String,
        /// Publish every event as "Busy" with only its times.
        #[arg(long)]
        busy_only: bool,
        /// Publish attendees and organizers with their e-mail addresses.
        #[arg(long)]
        show_attendees: bool,
    },
    /// Stop publishing a calendar: its URL answers 404 from the next request on.
    Disable {
        #[arg(value_name = "OWNER/CALENDAR")]
        calendar: String,
    },
    /// Give a public calendar a new URL (same options); the old URL stops working at once.
    Regenerate {
        #[arg(value_name = "OWNER/CALENDAR")]
        calendar: String,
    },
}

pub fn run(config: Config, cmd: FeedCommand) -> anyhow::Result<()> {
    let store = app::open_store(&config)?;
    let store: &dyn Store = store.as_ref();
    match cmd {
        FeedCommand::Enable { calendar, busy_only, show_attendees } => {
            let collection = feeds::find_calendar(store, &calendar)?;
            let was_public = store.feed_of(collection.id)?.is_some();
            let settings = FeedSettings { busy_only, show_attendees };
            let token = feeds::enable(store, &collection, &settings)
                .with_context(|| format!("cannot publish {calendar}"))?;
            let yes_no = |b: bool| if b { "yes" } else { "no" };
            println!(
                "{calendar} is public: anyone with the link can read it (busy-only: {}, attendee addresses: {})",
                yes_no(busy_only),
                yes_no(show_attendees)
            );
            if was_public {
                println!("its previous URL no longer works");
            }
            print_urls(&config, &token);
        }
        FeedCommand::Disable { calendar } => {
            let collection = feeds::find_calendar(store, &calendar)?;
            if feeds::disable(store, &collection)? {
                println!("{calendar} is no longer public; its URL now answers 404");
            } else {
                println!("{calendar} was not public");
            }
        }
        FeedCommand::Regenerate { calendar } => {
            let collection = feeds::find_calendar(store, &calendar)?;
            let token = match feeds::regenerate(store, &collection) {
                Err(FeedError::NotPublished(_)) => {
                    anyhow::bail!("{calendar} is not public; use `davit feed enable {calendar}`")
                }
                other => other.with_context(|| format!("cannot regenerate the URL of {calendar}"))?,
            };
            println!("{calendar} has a new URL; the previous one no longer works");
            print_urls(&config, &token);
        }
    }
    Ok(())
}

fn print_urls(config: &Config, token: &str) {
    println!("subscribe: {}", feeds::webcal_url(config, token));
    println!("{}", feeds::feed_url(config, token));
}
