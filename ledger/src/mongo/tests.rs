//! The MongoDB ledger against a real server (AURORA_TEST_MONGODB_URI; scripts/test sets it).

#![allow(clippy::unwrap_used)] // tests: a panic is a failed case

use super::*;
use crate::subscribe::{Scope, subscribe};
use crate::{Fence, FencedLedger};
use aurora_schemas::event::EventData;
use aurora_schemas::{EventMeta, NewEvent, TaskId};
use std::sync::Mutex;
use std::time::Instant;

fn uri() -> String {
    std::env::var("AURORA_TEST_MONGODB_URI").expect("service tests need AURORA_TEST_MONGODB_URI (scripts/test sets it)")
}

/// The change stream opens on the first watch, possibly after a subscription read the
/// history, so its opening is announced with an empty batch (listeners re-read the store:
/// an event committed while it opened is not left to the one-second idle check); events
/// committed after that arrive through the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_stream_announces_its_opening_then_carries_events() {
    let db = format!("aurora_test_{}", uuid::Uuid::now_v7().simple());
    let ledger = MongoLedger::connect(&uri(), &db).await.expect("MongoDB reachable");
    let mut live = ledger.watch();
    let opened = tokio::time::timeout(Duration::from_secs(10), live.recv()).await.expect("opened in time");
    assert!(opened.expect("announcement").is_empty(), "the first announcement is the opening's empty batch");
    let g = GraphId::new();
    let event = NewEvent::task(
        g,
        TaskId::derive(g, "t"),
        EventData::TaskReceived { attempt: 1, worker_id: "w".into(), takeover: false },
        EventMeta::default(),
    );
    let appended = ledger.append(AppendRequest::new(0, vec![event])).await.expect("append");
    let carried = tokio::time::timeout(Duration::from_secs(10), live.recv()).await.expect("in time");
    assert_eq!(*carried.expect("batch"), appended);
}

/// Two ledgers on the same database stand for two processes: their appends race on the
/// same streams, one wins each race, and each sees the other's events in one gap-free order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_race_and_see_one_order() {
    let db = format!("aurora_test_{}", uuid::Uuid::now_v7().simple());
    let a = MongoLedger::connect(&uri(), &db).await.expect("MongoDB reachable");
    let b = MongoLedger::connect(&uri(), &db).await.expect("MongoDB reachable");
    let mut watcher = subscribe(b.clone(), Scope::All, 0);
    let g = GraphId::new();
    let mut wins = 0;
    for i in 0..20 {
        let t = TaskId::derive(g, &format!("t{i}"));
        let ev = |who: &str| {
            NewEvent::task(
                g,
                t,
                EventData::TaskReceived { attempt: 1, worker_id: who.into(), takeover: false },
                EventMeta::default(),
            )
        };
        let (ra, rb) = tokio::join!(
            a.append(AppendRequest::new(0, vec![ev("a")])),
            b.append(AppendRequest::new(0, vec![ev("b")]))
        );
        assert!(ra.is_ok() != rb.is_ok(), "exactly one of two racing appends wins: {ra:?} / {rb:?}");
        let loser = if ra.is_ok() { rb } else { ra };
        assert!(loser.unwrap_err().is_conflict());
        wins += 1;
    }
    let mut seen = Vec::new();
    while seen.len() < wins {
        seen.push(
            tokio::time::timeout(Duration::from_secs(10), watcher.next()).await.expect("in time").expect("event"),
        );
    }
    let stored = a.read_from(0, 1000).await.expect("read");
    assert_eq!(seen, stored, "one order, seen the same from both processes");
    assert_eq!(stored.len(), wins, "the winners, and nothing of the losers");
    assert!(stored.windows(2).all(|w| w[0].position < w[1].position), "positions increase");
    let last = stored.last().expect("events").position;
    // A loser's position may come after the last winner's (it is skipped): the head is the last event.
    assert_eq!(a.head().await.expect("head"), last, "the head is the last event");
    assert_resolved(&db, last).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_ledger_passes_the_conformance_suite() {
    let uri = std::env::var("AURORA_TEST_MONGODB_URI")
        .expect("service tests need AURORA_TEST_MONGODB_URI (scripts/test sets it)");
    crate::conformance::run(|| {
        let uri = uri.clone();
        async move {
            let db = format!("aurora_test_{}", uuid::Uuid::now_v7().simple());
            MongoLedger::connect(&uri, &db).await.expect("MongoDB reachable") as Arc<dyn Ledger>
        }
    })
    .await;
}

fn fresh_db() -> String {
    format!("aurora_test_{}", uuid::Uuid::now_v7().simple())
}

async fn collection(db: &str, name: &str) -> Collection<Document> {
    durable_client(&uri()).await.expect("client").database(db).collection(name)
}

/// Every position up to `last` holds exactly one document: an event or a skip.
async fn assert_resolved(db: &str, last: u64) {
    let events = collection(db, "events").await;
    let held = events.count_documents(doc! { "position": { "$lte": last as i64 } }).await.expect("count");
    assert_eq!(held, last, "every position up to {last} is an event or skipped");
}

fn received(g: GraphId, key: &str, worker: &str) -> NewEvent {
    NewEvent::task(
        g,
        TaskId::derive(g, key),
        EventData::TaskReceived { attempt: 1, worker_id: worker.into(), takeover: false },
        EventMeta::default(),
    )
}

/// Reserves `n` positions the way an append does, and writes nothing at them: a process that
/// died between reserving and writing.
async fn reserve_and_die(db: &str, n: i64) -> u64 {
    let counters = collection(db, "counters").await;
    let after = counters
        .find_one_and_update(doc! { "_id": "position" }, doc! { "$inc": { "value": n } })
        .return_document(mongodb::options::ReturnDocument::After)
        .await
        .expect("reserve")
        .expect("the counter exists once a ledger connected");
    after.get_i64("value").expect("value") as u64
}

/// A position reserved by a process that died before writing it stops readers only for a
/// while: the first reader that waits on it past `skip_after` marks it skipped, and every event
/// after it is delivered, once, in order. The position can never be taken by a late write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_reserved_by_a_dead_writer_is_skipped_and_readers_go_on() {
    let db = fresh_db();
    let ledger = MongoLedger::connect_with(&uri(), &db, Duration::from_millis(300)).await.expect("MongoDB reachable");
    let g = GraphId::new();
    let first = ledger.append(AppendRequest::new(0, vec![received(g, "a", "w")])).await.expect("append")[0].clone();
    let dead = reserve_and_die(&db, 1).await;
    assert_eq!(dead, first.position + 1);
    let after = ledger.append(AppendRequest::new(0, vec![received(g, "b", "w")])).await.expect("append")[0].clone();
    assert!(after.position > dead);
    let started = Instant::now();
    let mut sub = subscribe(ledger.clone(), Scope::All, 0);
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(tokio::time::timeout(Duration::from_secs(10), sub.next()).await.expect("in time").expect("event"));
    }
    assert_eq!(seen, vec![first.clone(), after.clone()], "both events, in order, the dead position stepped over");
    assert!(started.elapsed() >= Duration::from_millis(300), "the hole was waited on for skip_after first");
    assert_eq!(ledger.head().await.expect("head"), after.position);
    assert_resolved(&db, after.position).await;
    // The dead writer's late insert is refused: the position is taken.
    let mut late = received(g, "late", "w").seal(1, chrono::Utc::now(), String::new());
    late.position = dead;
    let refused = collection(&db, "events").await.insert_one(docs::to_doc(&late)).await;
    assert!(refused.unwrap_err().to_string().contains("11000"), "a skipped position stays skipped");
    assert!(ledger.read_stream(&late.stream, 1).await.expect("read").is_empty());
}

/// A slow writer's position commits after a later one: a subscriber, live or catching up, still
/// gets both in position order, each once — it waits for the missing position instead of
/// passing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_that_commits_late_is_delivered_in_order() {
    let db = fresh_db();
    let ledger = MongoLedger::connect_with(&uri(), &db, Duration::from_secs(60)).await.expect("MongoDB reachable");
    let g = GraphId::new();
    let mut live = subscribe(ledger.clone(), Scope::Graph(g), 0);
    let slow_position = reserve_and_die(&db, 1).await;
    let fast = ledger.append(AppendRequest::new(0, vec![received(g, "fast", "w")])).await.expect("append")[0].clone();
    assert!(fast.position > slow_position);
    assert_eq!(ledger.head().await.expect("head"), slow_position - 1, "the horizon stops before the missing position");
    assert!(ledger.read_graph_after(g, 0, 100).await.expect("read").is_empty(), "nothing past the horizon is read");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), live.next()).await.is_err(),
        "the live subscriber waits for the missing position"
    );
    let mut slow = received(g, "slow", "w").seal(1, chrono::Utc::now(), String::new());
    slow.position = slow_position;
    collection(&db, "events").await.insert_one(docs::to_doc(&slow)).await.expect("the slow write lands");
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(tokio::time::timeout(Duration::from_secs(10), live.next()).await.expect("in time").expect("event"));
    }
    assert_eq!(got, vec![slow.clone(), fast.clone()], "position order, once each");
    let mut catching_up = subscribe(ledger.clone(), Scope::Graph(g), 0);
    let mut history = Vec::new();
    for _ in 0..2 {
        history.push(catching_up.next().await.expect("event"));
    }
    assert_eq!(history, got);
}

/// After a failover two holders of one lease append at once, from two processes: once the new
/// holder's append has returned, no append of the old holder that starts after it is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_holders_racing_after_a_failover_are_fenced() {
    let db = fresh_db();
    let old_process = MongoLedger::connect(&uri(), &db).await.expect("MongoDB reachable");
    let new_process = MongoLedger::connect(&uri(), &db).await.expect("MongoDB reachable");
    let lease = "projector/0";
    let old = Arc::new(FencedLedger::new(old_process, Fence { lease: lease.into(), token: 1 }));
    let new = Arc::new(FencedLedger::new(new_process, Fence { lease: lease.into(), token: 2 }));
    old.append(AppendRequest::new(0, vec![received(GraphId::new(), "before", "old")]))
        .await
        .expect("the old holder appends");
    let g = GraphId::new();
    let new_won_at: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let mut racers = Vec::new();
    for i in 0..40 {
        let (old, new, new_won_at) = (old.clone(), new.clone(), new_won_at.clone());
        racers.push(tokio::spawn(async move {
            let key = format!("k{i}");
            if i % 2 == 0 {
                let started = Instant::now();
                let r = old.append(AppendRequest::new(0, vec![received(g, &key, "old")])).await;
                (true, started, r.map(|_| ()))
            } else {
                let r = new.append(AppendRequest::new(0, vec![received(g, &key, "new")])).await;
                let returned = Instant::now();
                if r.is_ok() {
                    let mut first = new_won_at.lock().unwrap();
                    first.get_or_insert(returned);
                }
                (false, returned, r.map(|_| ()))
            }
        }));
    }
    let outcomes: Vec<_> = futures::future::join_all(racers).await.into_iter().map(|r| r.unwrap()).collect();
    assert!(outcomes.iter().filter(|(old, ..)| !old).all(|(.., r)| r.is_ok()), "the new holder is never refused");
    let new_won_at = new_won_at.lock().unwrap().expect("the new holder appended");
    for (is_old, started, result) in &outcomes {
        if *is_old && *started > new_won_at {
            assert!(
                result.as_ref().unwrap_err().is_fenced(),
                "an old append started after the new holder's: {result:?}"
            );
        }
    }
    let late = old.append(AppendRequest::new(0, vec![received(g, "late", "old")])).await.unwrap_err();
    assert!(late.is_fenced(), "{late}");
    for (is_old, _, result) in &outcomes {
        if *is_old && result.is_err() {
            assert!(result.as_ref().unwrap_err().is_fenced(), "refused only for its fence: {result:?}");
        }
    }
}

/// Many appends of two processes at once (the scale-out path: no shared document is written in
/// a transaction): all succeed, every position up to the last is resolved, and one subscriber
/// sees every event once, in position order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_appending_at_once_lose_nothing() {
    let db = fresh_db();
    let a = MongoLedger::connect(&uri(), &db).await.expect("MongoDB reachable");
    let b = MongoLedger::connect(&uri(), &db).await.expect("MongoDB reachable");
    let mut all = subscribe(a.clone(), Scope::All, 0);
    let g = GraphId::new();
    let mut appends = Vec::new();
    for i in 0..300 {
        let ledger = if i % 2 == 0 { a.clone() } else { b.clone() };
        appends.push(tokio::spawn(async move {
            let t = TaskId::derive(g, &format!("t{i}"));
            let claim = vec![
                received(g, &format!("t{i}"), "w"),
                NewEvent::task(g, t, EventData::TaskStarted { attempt: 1 }, EventMeta::default()),
            ];
            // A claim (two events: a transaction) then an outcome (one event: a plain insert).
            ledger.append(AppendRequest::new(0, claim)).await.expect("claim");
            let done = NewEvent::task(g, t, EventData::TaskStarted { attempt: 2 }, EventMeta::default());
            ledger.append(AppendRequest::new(2, vec![done])).await.expect("outcome");
        }));
    }
    for a in futures::future::join_all(appends).await {
        a.unwrap();
    }
    let mut seen = Vec::new();
    while seen.len() < 900 {
        seen.push(tokio::time::timeout(Duration::from_secs(20), all.next()).await.expect("in time").expect("event"));
    }
    assert!(seen.windows(2).all(|w| w[0].position < w[1].position), "position order, no repeat");
    let stored = b.read_from(0, 10_000).await.expect("read");
    assert_eq!(seen, stored, "the subscriber saw exactly what is stored");
    assert_resolved(&db, stored.last().unwrap().position).await;
}

/// When the last reserved positions were never written (skipped), the head is still the last
/// event: a projector compares it with the positions it was handed to know it caught up, and a
/// skipped position is never handed to anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_is_the_last_event_even_when_skipped_positions_follow_it() {
    let db = fresh_db();
    let ledger = MongoLedger::connect_with(&uri(), &db, Duration::from_millis(200)).await.expect("MongoDB reachable");
    let g = GraphId::new();
    let last = ledger.append(AppendRequest::new(0, vec![received(g, "a", "w")])).await.expect("append")[0].clone();
    // A racing loser's position after it, marked skipped by its writer.
    let lost = reserve_and_die(&db, 1).await;
    ledger.horizon.skip(&[lost]).await.expect("skip");
    assert_eq!(ledger.horizon.advance().await.expect("advance"), lost, "the horizon passes the skipped position");
    assert_eq!(ledger.head().await.expect("head"), last.position, "the head is the last event");
}
