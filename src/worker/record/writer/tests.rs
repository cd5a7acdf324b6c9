use super::*;
use crate::compile::plan::RecordFormat;
use crate::media::sample_frames::publish;
use crate::worker::record::status::{RecordRegistry, State};
use std::sync::Mutex;

fn key() -> StreamName {
    StreamName {
        vhost: "__defaultVhost__".into(),
        app: "rec".into(),
        stream: "show".into(),
        param: String::new(),
    }
}

struct Run {
    recorder: Recorder,
    files: Arc<Mutex<Vec<RecordedFile>>>,
    status: Arc<RecordStatus>,
}

fn recorder(path: &Path, format: RecordFormat, segment_ms: Option<u64>) -> Run {
    let files = Arc::new(Mutex::new(Vec::new()));
    let seen = files.clone();
    let status = RecordRegistry::new().start("k", "p");
    let rule = RecordRule {
        path: path.display().to_string(),
        format,
        segment_ms,
    };
    let notify: Notify = Box::new(move |file| seen.lock().unwrap().push(file));
    Run {
        recorder: Recorder::new(rule, key(), status.clone(), notify),
        files,
        status,
    }
}

fn feed(recorder: &mut Recorder, frames: &[(FrameKind, u32, bytes::Bytes)]) {
    for (kind, timestamp, payload) in frames {
        recorder.on_frame(&Frame {
            kind: *kind,
            timestamp: *timestamp,
            payload: payload.clone(),
        });
    }
}

#[test]
fn segments_at_keyframes_and_reports_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = recorder(
        &dir.path().join("{app}/{stream}/{start}.mp4"),
        RecordFormat::Mp4,
        Some(2_000),
    );
    feed(&mut run.recorder, &publish(5_000, 5, 25));
    run.recorder.finish();
    let files = run.files.lock().unwrap();
    // Keyframes every second: files cut at 2 s, 4 s, then the rest.
    assert_eq!(files.len(), 3, "{files:?}");
    let durations: Vec<f64> = files.iter().map(|f| f.duration).collect();
    assert_eq!(durations[..2], [2.0, 2.0]);
    for file in files.iter() {
        assert!(file.path.contains("/rec/show/"), "{}", file.path);
        let data = std::fs::read(&file.path).unwrap();
        assert_eq!(data.len() as u64, file.bytes);
        assert_eq!(&data[4..8], b"ftyp");
    }
    // Same start stamp within a second: the later files got a suffix instead of overwriting.
    let mut paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    paths.dedup();
    assert_eq!(paths.len(), 3);
    assert_eq!(run.status.state(), State::Idle);
}

#[test]
fn flv_and_ts_files_start_with_their_headers() {
    let dir = tempfile::tempdir().unwrap();
    for (format, name) in [(RecordFormat::Flv, "a.flv"), (RecordFormat::Ts, "a.ts")] {
        let mut run = recorder(&dir.path().join(name), format, None);
        // Inter frames before the first keyframe are not recorded.
        let mut frames = publish(0, 2, 25);
        frames.insert(
            2,
            (
                FrameKind::Video,
                0,
                crate::media::sample_frames::video_frame(false),
            ),
        );
        feed(&mut run.recorder, &frames);
        run.recorder.finish();
        let files = run.files.lock().unwrap();
        assert_eq!(files.len(), 1);
        let data = std::fs::read(&files[0].path).unwrap();
        match format {
            RecordFormat::Flv => {
                let tags = crate::media::flv::read_all(&data).unwrap();
                assert!(crate::media::flv::is_avc_sequence_header(&tags[0].payload));
                assert!(crate::media::flv::is_aac_sequence_header(&tags[1].payload));
                assert!(crate::media::flv::is_video_keyframe(&tags[2].payload));
            }
            _ => assert_eq!(data[0], 0x47),
        }
    }
}

#[test]
fn an_unwritable_path_fails_once_then_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocked");
    std::fs::write(&blocker, b"a file, not a directory").unwrap();
    let mut run = recorder(&blocker.join("{stream}.flv"), RecordFormat::Flv, None);
    feed(&mut run.recorder, &publish(0, 2, 25));
    assert_eq!(run.status.state(), State::Error);
    assert!(run.status.json()["error"]
        .as_str()
        .unwrap()
        .contains("directory"));
    std::fs::remove_file(&blocker).unwrap();
    // Retried at a keyframe once the retry interval passed.
    std::thread::sleep(RETRY_INTERVAL);
    feed(&mut run.recorder, &publish(2_000, 2, 25)[2..]);
    assert_eq!(run.status.state(), State::Recording);
    run.recorder.finish();
    assert_eq!(run.files.lock().unwrap().len(), 1);
    assert!(blocker.join("show.flv").exists());
}

#[test]
fn unique_names_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let wanted = dir.path().join("x.mp4");
    let (first, _) = create_unique(&wanted).unwrap();
    let (second, _) = create_unique(&wanted).unwrap();
    let (third, _) = create_unique(&wanted).unwrap();
    assert_eq!(first, wanted);
    assert_eq!(second, dir.path().join("x-1.mp4"));
    assert_eq!(third, dir.path().join("x-2.mp4"));
}
