//! Unordered inserts and what became of each document.

use super::{OPERATION_TIMEOUT, unavailable};
use crate::Error;
use mongodb::Collection;
use mongodb::bson::Document;
use mongodb::error::ErrorKind;
use mongodb::options::InsertManyOptions;

/// MongoDB's duplicate key error.
pub const DUPLICATE_KEY: i32 = 11000;

/// What an unordered insert wrote.
#[derive(Debug)]
pub enum Inserted {
    /// Every document.
    All,
    /// Every document but these (index in the insert, error code).
    AllBut(Vec<(usize, i32)>),
    /// Not known (the connection failed, the operation timed out, the write concern failed):
    /// any of the documents may or may not be there.
    Unknown(Error),
}

/// Inserts `docs` unordered, outside a transaction: each on its own, a duplicate does not stop the
/// others.
pub async fn insert_unordered(events: &Collection<Document>, docs: Vec<Document>) -> Inserted {
    insert(events, docs).await
}

async fn insert(events: &Collection<Document>, docs: Vec<Document>) -> Inserted {
    let unordered = InsertManyOptions::builder().ordered(false).build();
    let result = tokio::time::timeout(OPERATION_TIMEOUT, events.insert_many(docs).with_options(unordered)).await;
    match result {
        Err(_) => Inserted::Unknown(unavailable(format!("an insert did not finish within {OPERATION_TIMEOUT:?}"))),
        Ok(Ok(_)) => Inserted::All,
        Ok(Err(e)) => match *e.kind {
            ErrorKind::InsertMany(ref many) if many.write_concern_error.is_none() => match &many.write_errors {
                Some(failed) if !failed.is_empty() => {
                    Inserted::AllBut(failed.iter().map(|w| (w.index, w.code)).collect())
                }
                _ => Inserted::Unknown(unavailable(e)),
            },
            _ => Inserted::Unknown(unavailable(e)),
        },
    }
}
