//! The burnt-in clock: a publisher draws the wall-clock millisecond at which each frame was made as a
//! grid of big black and white blocks (no OCR: a reader only averages a few pixels per block), and a
//! reader turns a small gray picture of that grid back into the millisecond.
//!
//! The grid covers the top half of the picture, 8 columns × 4 rows. Cell `i` (row-major):
//! 0 and 31 white, 1 and 30 black (the reader's threshold is halfway between them, so brightness and
//! range conversions do not matter), 2..=25 bits 0..=23 of the millisecond (mod 2^24, 4.6 hours), and
//! 26..=29 the parity of bits 0–5, 6–11, 12–17 and 18–23, so a frame caught half-way through a
//! change or smeared by a low bitrate is rejected instead of read as a wrong time.
//!
//! The wall clock is read by ffmpeg when it makes the frame (`setpts` with `RTCTIME`), so no start
//! time has to be agreed on: a reader on the same machine subtracts the millisecond from its own
//! `Date.now()` (the browser) or `SystemTime::now()` (the ffmpeg reference reader).

/// Frames per second of the clock stream.
pub const FPS: u32 = 25;
/// The clock counts milliseconds modulo this.
pub const MODULUS: i64 = 1 << 24;
const COLS: usize = 8;
const ROWS: usize = 4;
const DATA_BITS: usize = 24;
/// The reader's picture of the grid: 4 × 4 pixels per cell.
pub const READ_WIDTH: usize = 32;
pub const READ_HEIGHT: usize = 16;

/// What the clock shows.
#[derive(Debug, Clone, Copy)]
pub enum Time {
    /// The wall clock when ffmpeg makes the frame.
    Wall,
    /// `start + frame number × 40 ms`: a clip whose every frame's value a test knows.
    Fixed(u32),
}

/// The lavfi graph (for `-f lavfi -i`) of a `width`×`height` test picture with the clock in its top
/// half, at [`FPS`], output `[out0]`.
pub fn lavfi_graph(time: Time, width: u32, height: u32) -> String {
    let step = 1000 / FPS;
    let value = match time {
        Time::Wall => format!("mod(floor(RTCTIME/1000),{MODULUS})"),
        Time::Fixed(start) => format!("{start}+N*{step}"),
    };
    format!(
        "color=c=black:s={COLS}x{ROWS}:r={FPS},settb=1/1000,setpts='{value}',format=yuv444p,\
         geq=lum='{lum}':cb=128:cr=128,setpts=N*{step},\
         scale={width}:{half}:flags=neighbor,format=yuv420p[clk];\
         testsrc2=s={width}x{height}:r={FPS},settb=1/1000,setpts=N*{step}[bg];\
         [bg][clk]overlay=0:0,format=yuv420p[out0]",
        lum = luma_expression(),
        half = height / 2,
    )
}

/// The `geq` luma of cell `Y*8+X` of the 8×4 grid for the millisecond in the frame's time (T, in
/// a 1/1000 time base); TV range, 16 black and 235 white.
fn luma_expression() -> String {
    let bit = |k: &str| format!("mod(floor(ld(0)/pow(2,{k})),2)");
    let parity: Vec<String> = (0..6).map(|j| bit(&format!("6*(ld(1)-26)+{j}"))).collect();
    format!(
        "st(0,floor(T*1000+0.5));st(1,Y*{COLS}+X);16+219*if(lt(ld(1),2),eq(ld(1),0),\
         if(lt(ld(1),26),{data},if(lt(ld(1),30),mod({parity},2),eq(ld(1),31))))",
        data = bit("ld(1)-2"),
        parity = parity.join("+"),
    )
}

/// The millisecond in a [`READ_WIDTH`]×[`READ_HEIGHT`] gray picture of the grid (the top half of a
/// frame, scaled down), or `None` when it is not a clean clock (no video yet, a parity error).
pub fn decode(gray: &[u8]) -> Option<u32> {
    if gray.len() != READ_WIDTH * READ_HEIGHT {
        return None;
    }
    let (cw, ch) = (READ_WIDTH / COLS, READ_HEIGHT / ROWS);
    // The middle half of each cell, away from the edges a codec smears.
    let cell = |i: usize| -> f64 {
        let (x0, y0) = ((i % COLS) * cw, (i / COLS) * ch);
        let mut sum = 0u32;
        let mut n = 0u32;
        for y in y0 + ch / 4..y0 + ch - ch / 4 {
            for x in x0 + cw / 4..x0 + cw - cw / 4 {
                sum += u32::from(gray[y * READ_WIDTH + x]);
                n += 1;
            }
        }
        f64::from(sum) / f64::from(n)
    };
    let white = (cell(0) + cell(31)) / 2.0;
    let black = (cell(1) + cell(30)) / 2.0;
    if white - black < 64.0 {
        return None;
    }
    let threshold = (white + black) / 2.0;
    let bit = |i: usize| u32::from(cell(i) > threshold);
    let value = (0..DATA_BITS).fold(0u32, |v, k| v | bit(2 + k) << k);
    let parity_ok = (0..4).all(|g| (value >> (6 * g) & 0x3f).count_ones() % 2 == bit(26 + g));
    parity_ok.then_some(value)
}

/// How long ago (ms) the clock showed `value`, seen at wall time `wall_ms` (Unix ms).
pub fn age_ms(wall_ms: f64, value: u32) -> f64 {
    let now = wall_ms.floor() as i64;
    let mut d = (now - i64::from(value)).rem_euclid(MODULUS);
    if d > MODULUS / 2 {
        d -= MODULUS;
    }
    d as f64 + (wall_ms - wall_ms.floor())
}

/// The `p`-th percentile (0..=100, nearest rank) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Debian's ffmpeg arguments that publish the wall clock (640×360, 25 fps, H.264 ~900 kbit/s, a
/// key frame every 2 s, x264 `zerolatency` so the encoder holds no frames back; a 440 Hz AAC tone
/// unless `ORYX_GLASS_AUDIO=0`) to `url` in real time, as FLV.
///
/// Picture and tone come from one lavfi input, not two: ffmpeg before 6.1 reads each input of
/// several on a thread of its own into a queue (`-thread_queue_size`, 8 packets) and applies `-re`
/// only where the queue is read, so with two inputs every frame was made (and its clock read) ~8
/// frames before ffmpeg encoded it, and the instrument counted ~0.3 s that no camera has. With
/// one input `-re` paces the reads themselves, as FFmpeg 6.1+ does for any number of inputs.
pub fn publish_args(url: &str) -> Vec<String> {
    let mut args = clock_input();
    args.extend(video_args());
    if audio() {
        args.extend(["-c:a", "aac", "-b:a", "64k", "-ar", "44100"].map(String::from));
    }
    args.extend(["-f", "flv", url].map(String::from));
    args
}

/// Whether the clock carries its tone (`ORYX_GLASS_AUDIO=0`: video only).
fn audio() -> bool {
    std::env::var("ORYX_GLASS_AUDIO").as_deref() != Ok("0")
}

/// The one real-time lavfi input: the clock picture (`[out0]`) and the tone (`[out1]`).
fn clock_input() -> Vec<String> {
    let mut graph = lavfi_graph(Time::Wall, 640, 360);
    if audio() {
        graph.push_str(";sine=frequency=440:sample_rate=44100[out1]");
    }
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-nostdin", "-re"]
        .map(String::from)
        .to_vec();
    args.extend(["-f".into(), "lavfi".into(), "-i".into(), graph]);
    args
}

/// The x264 settings every publisher of the clock uses.
fn video_args() -> Vec<String> {
    [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "50",
        "-keyint_min",
        "50",
        "-sc_threshold",
        "0",
        "-b:v",
        "900k",
        "-maxrate",
        "1000k",
        "-bufsize",
        "1000k",
    ]
    .map(String::from)
    .to_vec()
}

/// A clean [`READ_WIDTH`]×[`READ_HEIGHT`] picture of the grid showing `value`: what a perfect
/// reader sees.
pub fn picture(value: u32) -> Vec<u8> {
    let mut cells = [false; COLS * ROWS];
    cells[0] = true;
    cells[31] = true;
    for k in 0..DATA_BITS {
        cells[2 + k] = value >> k & 1 == 1;
    }
    for g in 0..4 {
        cells[26 + g] = (value >> (6 * g) & 0x3f).count_ones() % 2 == 1;
    }
    let (cw, ch) = (READ_WIDTH / COLS, READ_HEIGHT / ROWS);
    (0..READ_WIDTH * READ_HEIGHT)
        .map(|i| {
            let (x, y) = (i % READ_WIDTH, i / READ_WIDTH);
            if cells[(y / ch) * COLS + x / cw] {
                235
            } else {
                16
            }
        })
        .collect()
}

/// FFmpeg 9 publishing the wall clock to a WHIP endpoint: the same picture and encoder settings
/// as [`publish_args`] (H.264 without B-frames, as WebRTC wants), Opus audio.
pub fn whip_args(url: &str) -> Vec<String> {
    let mut args = clock_input();
    args.extend(video_args());
    args.extend(["-bf", "0", "-profile:v", "baseline"].map(String::from));
    if audio() {
        args.extend(
            ["-c:a", "libopus", "-b:a", "64k", "-ar", "48000", "-ac", "2"].map(String::from),
        );
    }
    args.extend(["-f", "whip", url].map(String::from));
    args
}
