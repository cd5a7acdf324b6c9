//! libopus loaded at run time (`libloading`): the encoder and decoder the transcoders use. Loading
//! instead of linking keeps `cargo build` free of a `-dev` package; a host without the shared object
//! gets a clear error only when a transcode is first asked for.

use std::ffi::{c_int, c_void};
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, bail, Result};

/// Opus's own clock: every decoder and encoder here runs at 48 kHz.
pub const RATE: u32 = 48_000;
/// Samples per channel in a 20 ms frame at 48 kHz (WebRTC's usual packet).
pub const FRAME_20MS: usize = 960;
/// The longest Opus packet decodes to 120 ms.
pub const MAX_FRAME: usize = 5_760;
/// RFC 6716 §3.4: a packet is at most 1275 bytes per frame; 4000 is libopus's recommended buffer.
const MAX_PACKET: usize = 4_000;

const OPUS_APPLICATION_AUDIO: c_int = 2049;
const OPUS_SET_BITRATE_REQUEST: c_int = 4002;

type EncoderCreate = unsafe extern "C" fn(i32, c_int, c_int, *mut c_int) -> *mut c_void;
type EncodeFloat = unsafe extern "C" fn(*mut c_void, *const f32, c_int, *mut u8, i32) -> i32;
type EncoderCtl = unsafe extern "C" fn(*mut c_void, c_int, ...) -> c_int;
type Destroy = unsafe extern "C" fn(*mut c_void);
type DecoderCreate = unsafe extern "C" fn(i32, c_int, *mut c_int) -> *mut c_void;
type DecodeFloat =
    unsafe extern "C" fn(*mut c_void, *const u8, i32, *mut f32, c_int, c_int) -> c_int;

/// The library and the entry points we call, resolved once per process.
struct Lib {
    _lib: libloading::Library,
    encoder_create: EncoderCreate,
    encode_float: EncodeFloat,
    encoder_ctl: EncoderCtl,
    encoder_destroy: Destroy,
    decoder_create: DecoderCreate,
    decode_float: DecodeFloat,
    decoder_destroy: Destroy,
}

fn lib() -> Result<Arc<Lib>> {
    static LIB: OnceLock<Result<Arc<Lib>, String>> = OnceLock::new();
    LIB.get_or_init(|| load().map(Arc::new).map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn load() -> Result<Lib> {
    let mut last = None;
    for name in ["libopus.so.0", "libopus.so", "libopus.0.dylib"] {
        // SAFETY: loading libopus runs no initialisers with preconditions.
        match unsafe { libloading::Library::new(name) } {
            Ok(lib) => return resolve(lib),
            Err(e) => last = Some(e),
        }
    }
    bail!(
        "libopus is not installed (Debian: apt-get install libopus0), needed to transcode audio for \
         WebRTC: {}",
        last.map(|e| e.to_string()).unwrap_or_default()
    )
}

fn resolve(lib: libloading::Library) -> Result<Lib> {
    // SAFETY: the types match opus.h (libopus 1.x, a stable ABI).
    unsafe {
        let encoder_create = *lib.get::<EncoderCreate>(b"opus_encoder_create\0")?;
        let encode_float = *lib.get::<EncodeFloat>(b"opus_encode_float\0")?;
        let encoder_ctl = *lib.get::<EncoderCtl>(b"opus_encoder_ctl\0")?;
        let encoder_destroy = *lib.get::<Destroy>(b"opus_encoder_destroy\0")?;
        let decoder_create = *lib.get::<DecoderCreate>(b"opus_decoder_create\0")?;
        let decode_float = *lib.get::<DecodeFloat>(b"opus_decode_float\0")?;
        let decoder_destroy = *lib.get::<Destroy>(b"opus_decoder_destroy\0")?;
        Ok(Lib {
            _lib: lib,
            encoder_create,
            encode_float,
            encoder_ctl,
            encoder_destroy,
            decoder_create,
            decode_float,
            decoder_destroy,
        })
    }
}

/// Whether libopus can be loaded here (tests and the worker's startup report use it).
pub fn available() -> Result<()> {
    lib().map(|_| ())
}

/// A libopus encoder at 48 kHz.
pub struct OpusEncoder {
    lib: Arc<Lib>,
    state: *mut c_void,
    channels: usize,
    out: Vec<u8>,
}

// SAFETY: the encoder state is owned by this value alone and libopus keeps no thread affinity.
unsafe impl Send for OpusEncoder {}

impl OpusEncoder {
    /// `channels` is 1 or 2; `bitrate` in bits per second.
    pub fn new(channels: usize, bitrate: i32) -> Result<Self> {
        if !(1..=2).contains(&channels) {
            bail!("opus: {channels} channels (1 or 2 supported)");
        }
        let lib = lib()?;
        let mut error: c_int = 0;
        // SAFETY: valid arguments; the error out-pointer lives across the call.
        let state = unsafe {
            (lib.encoder_create)(
                RATE as i32,
                channels as c_int,
                OPUS_APPLICATION_AUDIO,
                &mut error,
            )
        };
        if state.is_null() || error != 0 {
            bail!("opus_encoder_create failed ({error})");
        }
        // SAFETY: OPUS_SET_BITRATE takes one opus_int32.
        unsafe { (lib.encoder_ctl)(state, OPUS_SET_BITRATE_REQUEST, bitrate) };
        Ok(OpusEncoder {
            lib,
            state,
            channels,
            out: vec![0; MAX_PACKET],
        })
    }

    /// Encodes one 20 ms frame: `pcm` interleaved, `FRAME_20MS * channels` samples.
    pub fn encode(&mut self, pcm: &[f32]) -> Result<Vec<u8>> {
        if pcm.len() != FRAME_20MS * self.channels {
            bail!(
                "opus: a frame of {} samples, not {}",
                pcm.len(),
                FRAME_20MS * self.channels
            );
        }
        // SAFETY: `pcm` holds one frame for every channel; `out` is MAX_PACKET bytes long.
        let n = unsafe {
            (self.lib.encode_float)(
                self.state,
                pcm.as_ptr(),
                FRAME_20MS as c_int,
                self.out.as_mut_ptr(),
                MAX_PACKET as i32,
            )
        };
        if n < 0 {
            bail!("opus_encode_float failed ({n})");
        }
        Ok(self.out[..n as usize].to_vec())
    }
}

impl Drop for OpusEncoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_encoder_create, destroyed once.
        unsafe { (self.lib.encoder_destroy)(self.state) }
    }
}

/// A libopus decoder at 48 kHz.
pub struct OpusDecoder {
    lib: Arc<Lib>,
    state: *mut c_void,
    channels: usize,
    pcm: Vec<f32>,
}

// SAFETY: as for the encoder.
unsafe impl Send for OpusDecoder {}

impl OpusDecoder {
    pub fn new(channels: usize) -> Result<Self> {
        if !(1..=2).contains(&channels) {
            bail!("opus: {channels} channels (1 or 2 supported)");
        }
        let lib = lib()?;
        let mut error: c_int = 0;
        // SAFETY: valid arguments; the error out-pointer lives across the call.
        let state = unsafe { (lib.decoder_create)(RATE as i32, channels as c_int, &mut error) };
        if state.is_null() || error != 0 {
            bail!("opus_decoder_create failed ({error})");
        }
        Ok(OpusDecoder {
            lib,
            state,
            channels,
            pcm: vec![0.0; MAX_FRAME * channels],
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Decodes one packet to interleaved samples (at most 120 ms); a bad packet is an error.
    pub fn decode(&mut self, packet: &[u8]) -> Result<&[f32]> {
        if packet.is_empty() || packet.len() > MAX_PACKET * 2 {
            bail!("opus: a packet of {} bytes", packet.len());
        }
        // SAFETY: `pcm` holds MAX_FRAME samples per channel, the most one packet decodes to.
        let n = unsafe {
            (self.lib.decode_float)(
                self.state,
                packet.as_ptr(),
                packet.len() as i32,
                self.pcm.as_mut_ptr(),
                MAX_FRAME as c_int,
                0,
            )
        };
        if n < 0 {
            bail!("opus_decode_float failed ({n})");
        }
        Ok(&self.pcm[..n as usize * self.channels])
    }
}

impl Drop for OpusDecoder {
    fn drop(&mut self) {
        // SAFETY: created by opus_decoder_create, destroyed once.
        unsafe { (self.lib.decoder_destroy)(self.state) }
    }
}
