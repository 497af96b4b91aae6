//! A timeline of the training threads, for `bench --trace`: every lap of
//! every thread becomes a span, written as Chrome trace events (one track
//! per thread) that Perfetto and `chrome://tracing` open. Only the first
//! batches are kept, so a trace stays a few megabytes whatever the run.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use crate::error::Result;
use crate::io::atomic_file::write_atomically;
use crate::train::observer::{Observer, Phase};

/// One lap: what a thread did between two instants.
#[derive(Debug, Clone, Copy)]
struct Span {
    phase: Phase,
    layer: Option<usize>,
    /// Nanoseconds since the trace started.
    start: u64,
    end: u64,
}

/// Records the laps of one thread; thread 0's also holds the others'
/// spans, handed back as each pass ends.
pub struct Trace {
    origin: Instant,
    last: Instant,
    /// Batches this thread may still start recording (a gather lap ends
    /// each batch's first phase).
    batches_left: usize,
    recording: bool,
    spans_per_batch: usize,
    spans: Vec<Span>,
    /// Spans of threads 1.., by thread.
    others: Vec<Vec<Span>>,
}

impl Trace {
    /// A trace of the first `batches` batches of each thread, for a network
    /// of `layers` weight layers.
    pub fn new(batches: usize, layers: usize) -> Self {
        // Gather, scoring and the input layer's update, and a dozen laps a
        // layer at most: the buffers are sized once.
        Self::for_thread(Instant::now(), batches, 4 + 12 * layers)
    }

    fn for_thread(origin: Instant, batches: usize, spans_per_batch: usize) -> Self {
        Self {
            origin,
            last: Instant::now(),
            batches_left: batches,
            recording: batches > 0,
            spans_per_batch,
            spans: Vec::with_capacity(batches * spans_per_batch),
            others: Vec::new(),
        }
    }

    /// Restarts the current lap without recording it (time spent outside
    /// the step, such as evaluation).
    pub fn restart(&mut self) {
        self.last = Instant::now();
    }

    fn nanos(&self, at: Instant) -> u64 {
        at.duration_since(self.origin).as_nanos() as u64
    }

    fn record(&mut self, phase: Phase, layer: Option<usize>) {
        // Once a thread has recorded its batches it never records again:
        // no clock read, so an idle trace costs nothing per lap.
        if !self.recording {
            return;
        }
        let now = Instant::now();
        if phase == Phase::Gather {
            match self.batches_left.checked_sub(1) {
                Some(left) => self.batches_left = left,
                None => self.recording = false,
            }
        }
        if self.recording {
            let span = Span {
                phase,
                layer,
                start: self.nanos(self.last),
                end: self.nanos(now),
            };
            self.spans.push(span);
        }
        self.last = now;
    }

    /// Spans recorded per thread, thread 0 first.
    pub fn spans_per_thread(&self) -> Vec<usize> {
        std::iter::once(self.spans.len())
            .chain(self.others.iter().map(Vec::len))
            .collect()
    }

    /// The trace as Chrome trace-event JSON: complete ("X") events in
    /// microseconds, one thread track each, named.
    pub fn chrome_json(&self) -> String {
        let mut out = String::from("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
        let threads = std::iter::once(&self.spans).chain(&self.others);
        let mut first = true;
        for (thread, spans) in threads.enumerate() {
            if !first {
                out.push_str(",\n");
            }
            first = false;
            let _ = write!(
                out,
                "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{thread},\"args\":{{\"name\":\"training thread {thread}\"}}}}"
            );
            for span in spans {
                let name = match span.layer {
                    Some(l) => format!("{} L{l}", span.phase.name()),
                    None => span.phase.name().to_string(),
                };
                let _ = write!(
                    out,
                    ",\n{{\"name\":\"{name}\",\"cat\":\"{}\",\"ph\":\"X\",\"pid\":1,\"tid\":{thread},\"ts\":{:.3},\"dur\":{:.3}}}",
                    span.phase.name(),
                    span.start as f64 / 1e3,
                    (span.end - span.start) as f64 / 1e3,
                );
            }
        }
        out.push_str("\n]}\n");
        out
    }

    /// Writes the Chrome trace to `path` (through a temporary file).
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomically(path, self.chrome_json().as_bytes())
    }
}

impl Observer for Trace {
    type Helper = Trace;

    fn helper(&mut self, _thread: usize) -> Trace {
        Trace::for_thread(self.origin, self.batches_left, self.spans_per_batch)
    }

    fn join(&mut self, thread: usize, helper: Trace) {
        if self.others.len() < thread {
            self.others.resize_with(thread, Vec::new);
        }
        self.others[thread - 1].extend(helper.spans);
    }

    fn lap(&mut self, phase: Phase) {
        self.record(phase, None);
    }

    fn layer_lap(&mut self, phase: Phase, layer: usize) {
        self.record(phase, Some(layer));
    }
}
