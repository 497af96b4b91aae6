//! Accuracy charts as a reader sees them: drawn onto a backend that records
//! every text and stroke, so the tests can ask where things went.

#![cfg(feature = "plot")]

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use ab_glyph::{Font, FontRef, ScaleFont};
use mnist_mlp::internals::io::metrics::EpochReport;
use mnist_mlp::internals::io::plot::{
    chart, distinct_names, run_curves, Curve, Glyphs, CURVES_SIZE,
};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

struct Text {
    text: String,
    at: BackendCoord,
    /// Tick labels of the x axis hang centred below their tick.
    centred_below: bool,
    /// Tick labels of the y axis sit right-aligned beside their tick.
    right_aligned: bool,
}

struct Stroke {
    points: Vec<BackendCoord>,
    rgb: (u8, u8, u8),
}

#[derive(Default)]
struct Log {
    texts: Vec<Text>,
    strokes: Vec<Stroke>,
}

struct Recorder(Rc<RefCell<Log>>);

impl DrawingBackend for Recorder {
    type ErrorType = std::io::Error;

    fn get_size(&self) -> (u32, u32) {
        CURVES_SIZE
    }
    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        Ok(())
    }
    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        Ok(())
    }
    fn draw_pixel(
        &mut self,
        _: BackendCoord,
        _: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        Ok(())
    }
    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.draw_path([from, to], style)
    }
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.borrow_mut().strokes.push(Stroke {
            points: path.into_iter().collect(),
            rgb: style.color().rgb,
        });
        Ok(())
    }
    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        at: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let anchor = style.anchor();
        self.0.borrow_mut().texts.push(Text {
            text: text.to_string(),
            at,
            centred_below: matches!((anchor.h_pos, anchor.v_pos), (HPos::Center, VPos::Top)),
            right_aligned: matches!((anchor.h_pos, anchor.v_pos), (HPos::Right, VPos::Center)),
        });
        Ok(())
    }
}

fn record(title: &str, curves: &[Curve]) -> Log {
    let log = Rc::new(RefCell::new(Log::default()));
    let root = Recorder(log.clone()).into_drawing_area();
    chart(&root, title, curves).unwrap();
    drop(root);
    Rc::try_unwrap(log).ok().unwrap().into_inner()
}

/// A run whose test and train accuracy climb from `start` to `end` (%) over
/// `epochs`.
fn run(
    name: &str,
    epochs: usize,
    start: f64,
    end: f64,
    diverged: bool,
    colour: usize,
) -> Vec<Curve> {
    let reports: Vec<EpochReport> = (1..=epochs)
        .map(|epoch| {
            let t = (epoch - 1) as f64 / (epochs.max(2) - 1) as f64;
            let acc = (start + (end - start) * t) / 100.0;
            EpochReport {
                epoch,
                last_epoch: epochs,
                lr: 1.0,
                train_loss: 0.1,
                train_acc: acc,
                val_loss: None,
                val_acc: None,
                test_loss: 0.1,
                test_acc: acc - 0.005,
                train_seconds: 0.1,
                eval_seconds: 0.1,
                diverged,
                output_saturation: 0.0,
                weight_norms: vec![1.0, 1.0],
                averaged_epochs: 0,
            }
        })
        .collect();
    run_curves(name, &reports, colour)
}

fn numbers(texts: &[Text], pick: fn(&Text) -> bool) -> Vec<String> {
    texts
        .iter()
        .filter(|t| pick(t) && t.text.parse::<f64>().is_ok())
        .map(|t| t.text.clone())
        .collect()
}

#[test]
fn epoch_axis_is_labelled_at_whole_epochs_only() {
    for (epochs, expected) in [
        (2, vec!["1", "2"]),
        (3, vec!["1", "2", "3"]),
        (30, vec!["5", "10", "15", "20", "25", "30"]),
    ] {
        let log = record("t", &run("a", epochs, 80.0, 95.0, false, 0));
        assert_eq!(
            numbers(&log.texts, |t| t.centred_below),
            expected,
            "{epochs} epochs"
        );
    }
}

/// Strokes in colour (not black, white or grey: axes, grid, frames).
fn coloured(log: &Log) -> impl Iterator<Item = &Stroke> {
    log.strokes
        .iter()
        .filter(|s| s.rgb.0 != s.rgb.1 || s.rgb.1 != s.rgb.2)
}

/// The coloured strokes on a text's line just left of it: its swatch.
fn swatch<'a>(log: &'a Log, text: &Text) -> Vec<&'a Stroke> {
    coloured(log)
        .filter(|s| {
            s.points
                .iter()
                .all(|p| (p.1 - text.at.1).abs() <= 1 && p.0 < text.at.0 && p.0 > text.at.0 - 50)
        })
        .collect()
}

#[test]
fn legend_covers_no_data_and_shows_train_curves_dashed() {
    let mut curves = Vec::new();
    for (i, lr) in ["0.1", "1", "10", "100"].iter().enumerate() {
        curves.extend(run(
            &format!("lr {lr}"),
            10,
            60.0,
            90.0 + i as f64,
            false,
            i,
        ));
    }
    let labels: Vec<String> = curves.iter().map(|c| c.label.clone()).collect();
    let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
    let log = record("Learning rate", &curves);
    let legend: Vec<(&Text, Vec<&Stroke>)> = log
        .texts
        .iter()
        .filter(|t| labels.contains(&t.text.as_str()))
        .map(|t| (t, swatch(&log, t)))
        .collect();
    assert_eq!(legend.len(), labels.len(), "every curve is in the legend");
    let swatches: Vec<*const Stroke> = legend
        .iter()
        .flat_map(|(_, s)| s.iter().map(|s| *s as *const Stroke))
        .collect();
    let data_right = coloured(&log)
        .filter(|s| !swatches.contains(&(*s as *const Stroke)))
        .flat_map(|s| &s.points)
        .map(|p| p.0)
        .max()
        .unwrap();
    for (text, swatch) in &legend {
        let left = swatch.iter().flat_map(|s| &s.points).map(|p| p.0).min();
        assert!(
            left.is_some_and(|left| left > data_right),
            "legend entry {:?} starts at x {left:?}, over the data (up to x {data_right})",
            text.text
        );
        // Dashed curves get dashed swatches, solid ones a solid stroke.
        if text.text.ends_with("train") {
            assert!(
                swatch.len() >= 2,
                "{:?}: {} dashes",
                text.text,
                swatch.len()
            );
        } else {
            assert_eq!(swatch.len(), 1, "{:?}", text.text);
        }
    }
}

/// WCAG contrast ratio of a colour against white.
fn contrast_on_white((r, g, b): (u8, u8, u8)) -> f64 {
    let linear = |c: u8| {
        let c = c as f64 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    1.05 / (luminance + 0.05)
}

#[test]
fn every_curve_colour_is_readable_on_white() {
    let mut curves = Vec::new();
    for i in 0..7 {
        curves.extend(run(&format!("run {i}"), 5, 80.0, 95.0, false, i));
    }
    let log = record("t", &curves);
    let mut colours: Vec<(u8, u8, u8)> = log
        .strokes
        .iter()
        .map(|s| s.rgb)
        .filter(|&(r, g, b)| !(r == g && g == b && (r == 0 || r > 150)))
        .collect();
    colours.sort();
    colours.dedup();
    assert!(colours.len() >= 7, "seven runs, seven colours: {colours:?}");
    for colour in colours {
        let ratio = contrast_on_white(colour);
        assert!(
            ratio >= 3.0,
            "{colour:?} has contrast {ratio:.2}:1 on white"
        );
    }
}

#[test]
fn diverged_runs_do_not_stretch_the_accuracy_axis_and_are_said_to_be_cut_off() {
    let mut curves = Vec::new();
    curves.extend(run("lr 1", 10, 91.0, 95.0, false, 0));
    curves.extend(run("lr 3", 10, 70.0, 94.0, false, 1));
    curves.extend(run("lr 100", 10, 20.0, 12.0, true, 2));
    let log = record("t", &curves);
    let ticks: Vec<f64> = numbers(&log.texts, |t| t.right_aligned)
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let lowest = ticks.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        (85.0..94.0).contains(&lowest),
        "the axis starts a little below the lowest converged final accuracy (94%), not at {lowest}: {ticks:?}"
    );
    let texts: Vec<&str> = log.texts.iter().map(|t| t.text.as_str()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("lr 100") && t.contains("diverged")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("cut off")), "{texts:?}");

    // Nothing is drawn below the axis: the clipped curves stop at it.
    let axis_bottom = log
        .texts
        .iter()
        .filter(|t| t.right_aligned && t.text.parse::<f64>() == Ok(lowest))
        .map(|t| t.at.1)
        .next()
        .unwrap();
    for stroke in coloured(&log) {
        for p in &stroke.points {
            assert!(
                p.1 <= axis_bottom + 1,
                "{p:?} is below the axis at y {axis_bottom}"
            );
        }
    }
}

#[test]
fn same_named_files_get_the_shortest_names_that_tell_them_apart() {
    let paths = |list: &[&str]| list.iter().map(PathBuf::from).collect::<Vec<_>>();
    assert_eq!(
        distinct_names(&paths(&["runs/a/m.jsonl", "runs/b/m.jsonl", "c/h90.jsonl"])),
        ["a/m", "b/m", "h90"]
    );
    assert_eq!(
        distinct_names(&paths(&["x/a/m.jsonl", "y/a/m.jsonl", "m.jsonl"])),
        ["x/a/m", "y/a/m", "m"]
    );
    assert_eq!(
        distinct_names(&paths(&["m.jsonl", "m.jsonl"])),
        ["m", "m #2"]
    );
}

#[test]
fn every_glyph_sits_at_its_pen_position_plus_its_bearing() {
    let (text, size, origin) = ("lr 10", 60.0, 10);
    let (w, h) = (400u32, 120u32);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = Glyphs(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
        let style = TextStyle::from(("sans-serif", size)).color(&BLACK);
        root.draw_text(text, &style, (origin, origin)).unwrap();
    }
    // Where each glyph's ink starts, by the font's own metrics.
    let font = FontRef::try_from_slice(dejavu::sans::regular()).unwrap();
    let font = font.as_scaled(size as f32);
    let (mut pen, mut previous, mut expected) = (0.0, None, Vec::new());
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            pen += font.kern(previous, id);
        }
        if c != ' ' {
            expected.push(origin as f32 + pen + font.h_side_bearing(id));
        }
        pen += font.h_advance(id);
        previous = Some(id);
    }
    // Where it does: the runs of columns holding ink.
    let inked = |x: u32| (0..h).any(|y| rgb[((y * w + x) * 3) as usize] < 128);
    let mut starts = Vec::new();
    for x in 0..w {
        if inked(x) && (x == 0 || !inked(x - 1)) {
            starts.push(x as f32);
        }
    }
    assert_eq!(starts.len(), expected.len(), "{starts:?}");
    for ((c, start), want) in text.replace(' ', "").chars().zip(&starts).zip(&expected) {
        assert!(
            (start - want).abs() <= 1.5,
            "{c:?} starts at x {start}, the font puts it at {want:.1}"
        );
    }
}

#[test]
fn a_run_with_validation_gets_a_dotted_validation_curve() {
    let mut reports: Vec<EpochReport> = Vec::new();
    for epoch in 1..=3 {
        reports.push(EpochReport {
            epoch,
            last_epoch: 3,
            lr: 1.0,
            train_loss: 0.1,
            train_acc: 0.9,
            val_loss: Some(0.2),
            val_acc: Some(0.8 + 0.01 * epoch as f64),
            test_loss: 0.1,
            test_acc: 0.85,
            train_seconds: 0.1,
            eval_seconds: 0.1,
            diverged: false,
            output_saturation: 0.0,
            weight_norms: vec![1.0, 1.0],
            averaged_epochs: 0,
        });
    }
    let curves = run_curves("a", &reports, 0);
    assert_eq!(curves.len(), 3);
    let val = &curves[2];
    assert_eq!(val.label, "a val");
    assert_eq!(val.line, mnist_mlp::internals::io::plot::Line::Dotted);
    assert_eq!(val.points, vec![(1.0, 81.0), (2.0, 82.0), (3.0, 83.0)]);
    // Without validation, just test and train.
    for r in &mut reports {
        r.val_acc = None;
    }
    assert_eq!(run_curves("a", &reports, 0).len(), 2);
}
