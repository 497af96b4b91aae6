//! PNG pictures: accuracy curves and digits. Text is drawn with DejaVu Sans
//! compiled into the binary, so plots work on a bare machine with no fonts
//! installed. Every picture is rendered into memory, encoded as PNG and
//! written under a temporary name before it takes its final one.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Once, OnceLock};

use ab_glyph::{point, Font, FontRef, ScaleFont};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

use crate::data::dataset::{Dataset, PIXELS};
use crate::data::idx::{IMAGE_COLS, IMAGE_ROWS};
use crate::error::{Error, Result};
use crate::io::atomic_file::write_atomically;
use crate::io::metrics::EpochReport;

pub const CURVES_SIZE: (u32, u32) = (960, 600);
const FONT: &str = "sans-serif";

/// Tableau 10 without its light colours (olive, cyan), and with its orange
/// darkened: every line stands out from a white background by at least the
/// 3:1 contrast WCAG asks of graphics.
pub const PALETTE: [(u8, u8, u8); 7] = [
    (0x1f, 0x77, 0xb4), // blue
    (0xd9, 0x5f, 0x02), // orange
    (0x2c, 0xa0, 0x2c), // green
    (0xd6, 0x27, 0x28), // red
    (0x94, 0x67, 0xbd), // purple
    (0x8c, 0x56, 0x4b), // brown
    (0x7f, 0x7f, 0x7f), // grey
];

/// Dash and gap of the train curves and of their legend swatches, in pixels.
const DASH: (u32, u32) = (6, 4);
/// The dotted pattern of validation curves.
const DOT: (u32, u32) = (2, 4);
/// Pixels the legend swatches are long.
const SWATCH: i32 = 28;

fn dejavu() -> &'static FontRef<'static> {
    static FONT_DATA: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT_DATA.get_or_init(|| {
        FontRef::try_from_slice(dejavu::sans::regular())
            .expect("embedded DejaVu Sans is a valid font")
    })
}

/// Backends other than `Glyphs` measure and draw text through plotters'
/// own ab_glyph support, which needs the font registered under `FONT`.
fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            plotters::style::register_font(FONT, style, dejavu::sans::regular())
                .unwrap_or_else(|_| panic!("embedded DejaVu Sans is a valid font"));
        }
    });
}

/// A bitmap backend that draws text itself, always in DejaVu Sans.
/// Plotters' own ab_glyph text drops each glyph's left side bearing and
/// rounds the pen down, so narrow glyphs slide left into the space before
/// them: "lr 10" reads "lr 1 0". Here every glyph sits at its pen position
/// plus its bearing, at subpixel precision, with the font's kerning.
pub struct Glyphs<'a>(pub BitMapBackend<'a>);

/// One line of text laid out on a baseline at the font's ascent: the glyphs
/// and the (width, height) of the box from the ascender to the descender.
fn lay_out(text: &str, size: f64) -> (Vec<ab_glyph::Glyph>, (u32, u32)) {
    let font = dejavu().as_scaled(size as f32);
    let mut glyphs = Vec::with_capacity(text.len());
    let (mut pen, mut previous) = (0.0, None);
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(previous) = previous {
            pen += font.kern(previous, id);
        }
        glyphs.push(id.with_scale_and_position(font.scale(), point(pen, font.ascent())));
        pen += font.h_advance(id);
        previous = Some(id);
    }
    let height = font.ascent() - font.descent();
    (glyphs, (pen.ceil() as u32, height.ceil() as u32))
}

impl DrawingBackend for Glyphs<'_> {
    type ErrorType = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.draw_path(path, style)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.fill_polygon(vert, style)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> std::result::Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        Ok(lay_out(text, style.size()).1)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        let colour = style.color();
        if colour.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, (width, height)) = lay_out(text, style.size());
        let (width, height) = (width as i32, height as i32);
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0,
            HPos::Center => -width / 2,
            HPos::Right => -width,
        };
        let dy = match anchor.v_pos {
            VPos::Top => 0,
            VPos::Center => -height / 2,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let (w, h) = self.get_size();
        for glyph in glyphs {
            let Some(outline) = dejavu().outline_glyph(glyph) else {
                continue; // a space
            };
            let corner = outline.px_bounds().min;
            let mut drawn = Ok(());
            outline.draw(|x, y, coverage| {
                let local = (
                    corner.x as i32 + x as i32 + dx,
                    corner.y as i32 + y as i32 + dy,
                );
                let (tx, ty) = transform.transform(local.0, local.1);
                let (px, py) = (pos.0 + tx, pos.1 + ty);
                if drawn.is_ok() && px >= 0 && py >= 0 && px < w as i32 && py < h as i32 {
                    drawn = self.0.draw_pixel(
                        (px, py),
                        BackendColor {
                            alpha: colour.alpha * coverage as f64,
                            rgb: colour.rgb,
                        },
                    );
                }
            });
            drawn?;
        }
        Ok(())
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        (iw, ih): (u32, u32),
        src: &[u8],
    ) -> std::result::Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.0.blit_bitmap(pos, (iw, ih), src)
    }
}

/// One line on a chart.
pub struct Curve {
    pub label: String,
    /// (epoch, accuracy in %)
    pub points: Vec<(f64, f64)>,
    pub line: Line,
    /// Index into the palette; a run's train and test curves share one.
    pub colour: usize,
    /// The run's last epoch diverged: its accuracy says nothing about the
    /// setting, so it does not set the scale.
    pub diverged: bool,
    /// (epoch, lowest, highest) around the curve: the spread over seeds of
    /// the runs it is the mean of, shaded in its colour.
    pub band: Vec<(f64, f64, f64)>,
}

/// How a curve is stroked: test solid, train dashed, validation dotted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    Solid,
    Dashed,
    Dotted,
}

impl Line {
    /// (dash, gap) in pixels; None for a solid line.
    fn pattern(self) -> Option<(u32, u32)> {
        match self {
            Line::Solid => None,
            Line::Dashed => Some(DASH),
            Line::Dotted => Some(DOT),
        }
    }
}

/// Test, train and (when the run held some out) validation accuracy per
/// epoch of one run, labelled "`name` test", "`name` train" and "`name`
/// val" (just "test", "train", "val" when `name` is empty).
pub fn run_curves(name: &str, reports: &[EpochReport], colour: usize) -> Vec<Curve> {
    let points = |f: fn(&EpochReport) -> f64| {
        reports
            .iter()
            .map(|r| (r.epoch as f64, 100.0 * f(r)))
            .collect::<Vec<_>>()
    };
    let label = |what: &str| format!("{name} {what}").trim_start().to_string();
    let diverged = reports.last().is_some_and(|r| r.diverged);
    let mut curves = vec![
        Curve {
            label: label("test"),
            points: points(|r| r.test_acc),
            line: Line::Solid,
            colour,
            diverged,
            band: Vec::new(),
        },
        Curve {
            label: label("train"),
            points: points(|r| r.train_acc),
            line: Line::Dashed,
            colour,
            diverged,
            band: Vec::new(),
        },
    ];
    if reports.iter().any(|r| r.val_acc.is_some()) {
        curves.push(Curve {
            label: label("val"),
            points: points(|r| r.val_acc.unwrap_or(f64::NAN)),
            line: Line::Dotted,
            colour,
            diverged,
            band: Vec::new(),
        });
    }
    curves
}

/// Names for the curves of these files that tell them apart: each file's
/// stem, lengthened by as many parent folders as it takes to differ from
/// the others ("a/metrics" and "b/metrics"). A file given twice gets "#2".
pub fn distinct_names(paths: &[PathBuf]) -> Vec<String> {
    let parts: Vec<Vec<String>> = paths
        .iter()
        .map(|path| {
            let mut parts: Vec<String> = path
                .parent()
                .into_iter()
                .flat_map(|p| p.components())
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            parts.push(
                path.file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
            );
            parts
        })
        .collect();
    let name = |i: usize, depth: usize| {
        let p = &parts[i];
        p[p.len().saturating_sub(depth)..].join("/")
    };
    let mut depth = vec![1; paths.len()];
    loop {
        let names: Vec<String> = (0..paths.len()).map(|i| name(i, depth[i])).collect();
        let mut lengthened = false;
        for i in 0..paths.len() {
            let clashes = (0..paths.len()).any(|j| j != i && names[j] == names[i]);
            if clashes && depth[i] < parts[i].len() {
                depth[i] += 1;
                lengthened = true;
            }
        }
        if !lengthened {
            // What still clashes is the same file given again.
            return names
                .iter()
                .enumerate()
                .map(
                    |(i, n)| match names[..i].iter().filter(|m| *m == n).count() {
                        0 => n.clone(),
                        seen => format!("{n} #{}", seen + 1),
                    },
                )
                .collect();
        }
    }
}

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Data(format!("{}: cannot draw the plot: {e}", path.display()))
}

/// Draws accuracy-vs-epoch curves to a PNG at `path`.
pub fn draw_curves(path: &Path, title: &str, curves: &[Curve]) -> Result<()> {
    let (w, h) = CURVES_SIZE;
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = Glyphs(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
        chart(&root, title, curves).map_err(|e| plot_error(path, e))?;
        root.present().map_err(|e| plot_error(path, e))?;
    }
    write_png(path, &rgb, (w, h), png::ColorType::Rgb)
}

/// The whole epochs to label on an axis running to `last`: every one, or
/// every 2nd, 5th, 10th, ... so that at most a dozen are labelled.
fn epoch_ticks(last: usize) -> Vec<usize> {
    let step = (0..)
        .flat_map(|e| [1, 2, 5].map(|m| m * 10usize.pow(e)))
        .find(|&step| last / step <= 12)
        .expect("a step of at least `last` labels one epoch");
    match step {
        1 => (1..=last).collect(),
        _ => (step..=last).step_by(step).collect(),
    }
}

/// The epoch axis: linear, with ticks and labels at whole epochs only.
struct EpochAxis {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for EpochAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // The light points are the unlabelled grid lines in between: none.
        match hint.weight().allow_light_points() {
            true => Vec::new(),
            false => self.ticks.clone(),
        }
    }

    fn range(&self) -> Range<f64> {
        self.linear.range()
    }
}

/// The bottom of the accuracy axis: a little below the lowest final
/// accuracy of the runs that did not diverge (of all runs if every one
/// did), on a multiple of 5. A diverged run would stretch the axis down to
/// chance and flatten the curves that matter together.
fn accuracy_floor(curves: &[Curve]) -> f64 {
    let last = |c: &Curve| c.points.iter().rev().map(|p| p.1).find(|v| v.is_finite());
    let converged = curves
        .iter()
        .filter(|c| !c.diverged)
        .filter_map(last)
        .fold(f64::INFINITY, f64::min);
    let any = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.1))
        .fold(f64::INFINITY, f64::min);
    let low = [converged, any]
        .into_iter()
        .find(|v| v.is_finite())
        .unwrap_or(0.0);
    (((low - 2.0) / 5.0).floor() * 5.0).clamp(0.0, 95.0)
}

/// The parts of a polyline at or above `floor`, cut where it crosses the
/// floor and where a value is missing (not finite).
fn visible_parts(points: &[(f64, f64)], floor: f64) -> Vec<Vec<(f64, f64)>> {
    let mut parts = vec![Vec::new()];
    let mut previous: Option<(f64, f64)> = None;
    for &(x, y) in points {
        if !y.is_finite() {
            parts.push(Vec::new());
            previous = None;
            continue;
        }
        let part = parts.last_mut().expect("never empty");
        if let Some((px, py)) = previous {
            if (py < floor) != (y < floor) {
                let crossing = px + (x - px) * (floor - py) / (y - py);
                part.push((crossing, floor));
                if y < floor {
                    parts.push(Vec::new());
                }
            }
        }
        if y >= floor {
            parts.last_mut().expect("never empty").push((x, y));
        }
        previous = Some((x, y));
    }
    parts.retain(|p| !p.is_empty());
    parts
}

fn colour(curve: &Curve) -> RGBColor {
    let (r, g, b) = PALETTE[curve.colour % PALETTE.len()];
    RGBColor(r, g, b)
}

fn stroke(curve: &Curve) -> ShapeStyle {
    Color::stroke_width(
        &colour(curve),
        if curve.line == Line::Solid { 3 } else { 2 },
    )
}

/// Draws the curves onto `root` (any plotters backend): the title, the
/// chart, and the legend in a column of its own to the right, where it can
/// cover no data. Train curves are dashed and validation curves dotted, in
/// the legend too.
pub fn chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    curves: &[Curve],
) -> std::result::Result<(), String> {
    register_font();
    let error = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let floor = accuracy_floor(curves);
    let clipped = curves
        .iter()
        .any(|c| c.points.iter().any(|p| p.1.is_finite() && p.1 < floor));
    let mut legend: Vec<(String, Option<&Curve>)> = curves
        .iter()
        .map(|c| {
            let label = match c.diverged {
                true => format!("{} (diverged)", c.label),
                false => c.label.clone(),
            };
            (label, Some(c))
        })
        .collect();
    if clipped {
        legend.push((String::new(), None));
        legend.push((format!("curves below {floor}% are cut off"), None));
    }

    let label_font = TextStyle::from((FONT, 15))
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let (w, _) = root.dim_in_pixel();
    let mut widest = 0;
    for (label, _) in &legend {
        widest = widest.max(
            root.estimate_text_size(label, &label_font)
                .map_err(error)?
                .0,
        );
    }
    let legend_width = (widest as i32 + SWATCH + 32).min(w as i32 * 2 / 5);
    let area = root.titled(title, (FONT, 22)).map_err(error)?;
    let (plot_area, _) = area.split_horizontally(w as i32 - legend_width);

    let last_epoch = curves
        .iter()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(1.0, f64::max)
        .max(2.0);
    let epochs = EpochAxis {
        linear: (1.0..last_epoch).into(),
        ticks: epoch_ticks(last_epoch as usize)
            .into_iter()
            .map(|e| e as f64)
            .collect(),
    };
    let mut chart = ChartBuilder::on(&plot_area)
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(epochs, floor..100.0)
        .map_err(error)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("accuracy (%)")
        .x_label_formatter(&|e| format!("{e:.0}"))
        .label_style((FONT, 16))
        .axis_desc_style((FONT, 18))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(error)?;
    for curve in curves.iter().filter(|c| c.band.len() > 1) {
        // Low edge forwards, high edge back: one closed shape, clipped
        // to the chart's floor like the curves.
        let outline: Vec<(f64, f64)> = curve
            .band
            .iter()
            .map(|&(x, low, _)| (x, low.max(floor)))
            .chain(
                curve
                    .band
                    .iter()
                    .rev()
                    .map(|&(x, _, high)| (x, high.max(floor))),
            )
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(
                outline,
                colour(curve).mix(0.18).filled(),
            )))
            .map_err(error)?;
    }
    for curve in curves {
        for part in visible_parts(&curve.points, floor) {
            match curve.line.pattern() {
                Some((dash, gap)) => {
                    chart.draw_series(DashedLineSeries::new(part, dash, gap, stroke(curve)))
                }
                None => chart.draw_series(LineSeries::new(part, stroke(curve))),
            }
            .map_err(error)?;
        }
    }

    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let (x, mut y) = (xs.end + 16, ys.start + 8);
    for (label, curve) in &legend {
        if let Some(curve) = curve {
            draw_swatch(root, curve, x..x + SWATCH, y).map_err(error)?;
        }
        root.draw_text(label, &label_font, (x + SWATCH + 8, y))
            .map_err(error)?;
        y += 20;
    }
    Ok(())
}

/// A legend's sample of a curve: a short stretch of its line, dashed as
/// the curve is.
fn draw_swatch<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    curve: &Curve,
    span: Range<i32>,
    y: i32,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (dash, gap) = match curve.line.pattern() {
        Some((dash, gap)) => (dash as i32, gap as i32),
        None => (span.len() as i32, 0),
    };
    let mut x = span.start;
    while x < span.end {
        let end = (x + dash).min(span.end);
        root.draw(&PathElement::new(vec![(x, y), (end, y)], stroke(curve)))?;
        x = end + gap;
    }
    Ok(())
}

/// Pictures are written as PNG, so a name that says otherwise would
/// mislead whoever opens the file.
fn check_png_name(path: &Path) -> Result<()> {
    match path.extension() {
        Some(ext) if ext.eq_ignore_ascii_case("png") => Ok(()),
        _ => Err(Error::Config(format!(
            "{}: pictures are written as PNG; give a file name ending in .png",
            path.display()
        ))),
    }
}

/// Draws item `index` of `data` under a title naming it and its label, each
/// pixel a `scale`×`scale` grey square, white digit on black as in MNIST.
pub fn draw_digit(
    path: &Path,
    title: &str,
    data: &Dataset,
    index: usize,
    scale: u32,
) -> Result<()> {
    let side = IMAGE_ROWS as u32 * scale;
    let title_height = 40;
    let (w, h) = (side, side + title_height);
    let mut rgb = vec![255u8; (w * h * 3) as usize];
    {
        let root = Glyphs(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
        let (band, area) = root.split_vertically(title_height);
        // The picture is only as wide as the digit: a long title gets smaller.
        let (_, (natural, _)) = lay_out(title, 22.0);
        let size = 22.0 * (f64::from(w - 8) / f64::from(natural)).min(1.0);
        let style = TextStyle::from((FONT, size))
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center));
        band.draw_text(title, &style, (w as i32 / 2, title_height as i32 / 2))
            .map_err(|e| plot_error(path, e))?;
        let scale = scale as i32;
        for (p, &value) in data.image(index).iter().enumerate() {
            let (row, col) = ((p / IMAGE_COLS) as i32, (p % IMAGE_COLS) as i32);
            let corner = (col * scale, row * scale);
            let far = (corner.0 + scale, corner.1 + scale);
            area.draw(&Rectangle::new(
                [corner, far],
                RGBColor(value, value, value).filled(),
            ))
            .map_err(|e| plot_error(path, e))?;
        }
        root.present().map_err(|e| plot_error(path, e))?;
    }
    debug_assert_eq!(data.image(index).len(), PIXELS);
    write_png(path, &rgb, (w, h), png::ColorType::Rgb)
}

/// Writes 784 pixels as a bare 28×28 greyscale PNG, as MNIST has them.
pub fn write_digit_png(path: &Path, pixels: &[u8]) -> Result<()> {
    write_png(
        path,
        pixels,
        (IMAGE_COLS as u32, IMAGE_ROWS as u32),
        png::ColorType::Grayscale,
    )
}

fn write_png(path: &Path, pixels: &[u8], (w, h): (u32, u32), colour: png::ColorType) -> Result<()> {
    check_png_name(path)?;
    let mut encoded = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut encoded, w, h);
        encoder.set_color(colour);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| plot_error(path, e))?;
        writer
            .write_image_data(pixels)
            .map_err(|e| plot_error(path, e))?;
    }
    write_atomically(path, &encoded)
}

/// The digit as terminal art: two characters per pixel, darker glyphs for
/// brighter pixels.
pub fn digit_ascii(data: &Dataset, index: usize) -> String {
    const RAMP: &[u8] = b" .:-=+*#%@";
    let mut out = String::with_capacity(IMAGE_ROWS * (2 * IMAGE_COLS + 1));
    for row in data.image(index).chunks(IMAGE_COLS) {
        for &p in row {
            let c = RAMP[p as usize * (RAMP.len() - 1) / 255] as char;
            out.push(c);
            out.push(c);
        }
        out.push('\n');
    }
    out
}
