//! The raw limits of the parts we stand on, measured in the same run: RabbitMQ publish with
//! confirms and consume with acks (lapin), MongoDB `insert_many` with our write concern (mongodb),
//! SQLite batched inserts with our pragmas (rusqlite).

use crate::Figures;
use anyhow::Context as _;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use std::path::Path;
use std::time::Instant;

/// Bytes per message or document: about an order's or an event's size.
const RECORD_BYTES: usize = 400;
/// Messages in flight per confirm wait, and documents or rows per write.
const BATCH: usize = 100;

/// RabbitMQ: `n` persistent messages published to a durable queue with publisher confirms
/// (`BATCH` in flight), then consumed and acked one by one with a prefetch of `BATCH`.
pub async fn rabbitmq(url: &str, n: usize) -> anyhow::Result<Figures> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await.context("connecting to RabbitMQ")?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let queue = format!("aurora-bench.limit.{}", uuid::Uuid::now_v7().simple());
    ch.queue_declare(queue.as_str().into(), QueueDeclareOptions::durable(), FieldTable::default()).await?;
    let body = vec![b'x'; RECORD_BYTES];
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(BATCH) {
        let mut confirms = Vec::with_capacity(chunk.len());
        for _ in chunk {
            let props = BasicProperties::default().with_delivery_mode(2);
            confirms.push(
                ch.basic_publish("".into(), queue.as_str().into(), BasicPublishOptions::default(), &body, props)
                    .await?,
            );
        }
        for c in confirms {
            anyhow::ensure!(c.await?.is_ack(), "RabbitMQ nacked a message");
        }
    }
    let publish_s = started.elapsed().as_secs_f64();
    let consumer_ch = conn.create_channel().await?;
    consumer_ch.basic_qos(BATCH as u16, BasicQosOptions::default()).await?;
    let mut consumer = consumer_ch
        .basic_consume(queue.as_str().into(), "limit".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    let started = Instant::now();
    for _ in 0..n {
        let d = consumer.next().await.context("the consumer ended")??;
        d.acker.ack(BasicAckOptions::default()).await?;
    }
    let consume_s = started.elapsed().as_secs_f64();
    ch.queue_delete(queue.as_str().into(), QueueDeleteOptions::default()).await?;
    let _ = conn.close(200, "done".into()).await;
    Ok(Figures::from([
        ("publish_confirmed_per_s".into(), n as f64 / publish_s),
        ("consume_acked_per_s".into(), n as f64 / consume_s),
        ("round_trip_per_s".into(), n as f64 / (publish_s + consume_s)),
    ]))
}

/// MongoDB: `n` documents inserted `BATCH` per `insert_many`, written as our ledger writes
/// (majority, journaled), into a scratch database that is dropped afterwards.
pub async fn mongodb(uri: &str, n: usize) -> anyhow::Result<Figures> {
    use mongodb::bson::doc;
    let client = aurora_ledger::mongo::durable_client(uri).await.context("connecting to MongoDB")?;
    let db = client.database(&format!("aurora_bench_limit_{}", uuid::Uuid::now_v7().simple()));
    let coll = db.collection::<mongodb::bson::Document>("events");
    let data = "x".repeat(RECORD_BYTES);
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(BATCH) {
        let docs: Vec<_> = chunk.iter().map(|i| doc! { "position": *i as i64, "data": &data }).collect();
        coll.insert_many(docs).await.context("insert_many")?;
    }
    let insert_s = started.elapsed().as_secs_f64();
    db.drop().await?;
    Ok(Figures::from([("inserts_per_s".into(), n as f64 / insert_s)]))
}

/// SQLite: `n` rows inserted `BATCH` per transaction with the ledger's pragmas (WAL,
/// synchronous=FULL), in a scratch file under `dir`.
pub fn sqlite(dir: &Path, n: usize) -> anyhow::Result<Figures> {
    let path = dir.join(format!("limit-{}.sqlite", uuid::Uuid::now_v7().simple()));
    let mut conn = rusqlite::Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("CREATE TABLE events (position INTEGER PRIMARY KEY, data TEXT NOT NULL)")?;
    let data = "x".repeat(RECORD_BYTES);
    let started = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(BATCH) {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached("INSERT INTO events (position, data) VALUES (?1, ?2)")?;
            for i in chunk {
                insert.execute(rusqlite::params![*i as i64, &data])?;
            }
        }
        tx.commit()?;
    }
    let insert_s = started.elapsed().as_secs_f64();
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    Ok(Figures::from([("inserts_per_s".into(), n as f64 / insert_s)]))
}
