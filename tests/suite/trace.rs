//! `bench --trace`'s observer: a Chrome trace with a track per training
//! thread, the barrier waits among its spans, bounded in batches.

use crate::common;

use common::synthetic_mnist;
use mnist_mlp::internals::train::trace::Trace;
use mnist_mlp::internals::train::{TrainConfig, Trainer};

fn traced(threads: usize, hidden: &[usize], batches: usize) -> (Trace, serde_json::Value) {
    let data = synthetic_mnist(600, 10);
    let config = TrainConfig {
        threads,
        hidden: mnist_mlp::internals::nn::arch::Hidden(hidden.to_vec()),
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(config, &data.train).unwrap();
    let mut trace = Trace::new(batches, hidden.len() + 1);
    trainer.train_epoch(&data.train, &mut trace);
    let json = serde_json::from_str(&trace.chrome_json()).expect("the trace is JSON");
    (trace, json)
}

fn spans(json: &serde_json::Value, thread: u64) -> Vec<&serde_json::Value> {
    json["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X" && e["tid"] == thread)
        .collect()
}

#[test]
fn two_threads_give_two_named_tracks_with_their_waits() {
    // 30 batches of 20; the trace keeps the first 10 of each thread.
    let (trace, json) = traced(2, &[30], 10);
    let names: Vec<_> = json["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "M")
        .map(|e| e["args"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["training thread 0", "training thread 1"]);
    for thread in 0..2 {
        let spans = spans(&json, thread);
        let count = |name: &str| spans.iter().filter(|e| e["name"] == name).count();
        assert_eq!(
            count("gather + augment + standardise"),
            10,
            "thread {thread}"
        );
        assert_eq!(
            count("thread sync L0"),
            10,
            "thread {thread}: one barrier per batch"
        );
        assert_eq!(count("forward products L0"), 10, "thread {thread}");
        assert_eq!(count("update L0"), 10, "thread {thread}");
        // Spans of a thread follow one another in time.
        let mut last_end = 0.0;
        for span in &spans {
            let (ts, dur) = (span["ts"].as_f64().unwrap(), span["dur"].as_f64().unwrap());
            assert!(
                dur >= 0.0 && ts + 1e-3 >= last_end,
                "overlapping spans on thread {thread}"
            );
            last_end = ts + dur;
        }
    }
    assert_eq!(trace.spans_per_thread().len(), 2);
}

#[test]
fn a_deep_network_traces_each_layers_products() {
    let (_, json) = traced(1, &[64, 32], 3);
    let spans = spans(&json, 0);
    for name in [
        "forward products L0",
        "forward products L1",
        "forward products L2",
        "backward products L2",
        "backward products L1",
        "update L2",
        "update L0",
    ] {
        assert_eq!(
            spans.iter().filter(|e| e["name"] == name).count(),
            3,
            "{name} once per traced batch"
        );
    }
}

#[test]
fn a_trace_of_no_batches_records_nothing() {
    let (trace, _) = traced(2, &[30], 0);
    assert!(trace.spans_per_thread().iter().all(|&n| n == 0));
}
