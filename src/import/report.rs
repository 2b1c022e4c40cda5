//! What an import did, item by item: created, updated, unchanged or skipped, with the line
//! where the item starts and, for a skipped one, why.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// 1-based line of the file where the card, row or component starts.
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Entry {
    pub fn skipped(line: usize, reason: impl Into<String>) -> Entry {
        Entry { line, uid: None, outcome: Outcome::Skipped, reason: Some(reason.into()) }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `OWNER/NAME` of the target collection.
    pub collection: String,
    /// Whether the import created the collection.
    pub collection_created: bool,
    /// How the file was read, e.g. `CSV (Outlook, windows-1252)`.
    pub format: String,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub skipped: usize,
    /// Every item in file order.
    pub items: Vec<Entry>,
}

impl Report {
    pub fn new(collection: &str, collection_created: bool, format: String) -> Report {
        Report {
            collection: collection.to_owned(),
            collection_created,
            format,
            created: 0,
            updated: 0,
            unchanged: 0,
            skipped: 0,
            items: Vec::new(),
        }
    }

    pub fn push(&mut self, entry: Entry) {
        match entry.outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Skipped => self.skipped += 1,
        }
        self.items.push(entry);
    }

    /// Items now in the collection as the file has them (for the CLI's exit code: an import
    /// that stored nothing failed).
    pub fn imported(&self) -> usize {
        self.created + self.updated + self.unchanged
    }

    /// A short human summary, e.g. `12 created, 0 updated, 3 unchanged, 1 skipped`.
    pub fn summary(&self) -> String {
        format!(
            "{} created, {} updated, {} unchanged, {} skipped",
            self.created, self.updated, self.unchanged, self.skipped
        )
    }
}
