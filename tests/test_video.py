"""stylebank video: flow and coherence, the generator API, the command end to end (audio, odd sizes, folders,
times), and every bad input as one line with no partial output. The clips are made here with PyAV."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

import stylebank
from helpers import same_picture
from stylebank.cli import main
from stylebank.errors import StyleBankError
from stylebank.tensors import to_tensor
from stylebank.backends.stylizer import StylizeOptions, Stylizer
from stylebank.video.clips import make_frames, write_clip
from stylebank.video.coherence import CoherentFrames
from stylebank.video.settings import Coherence
from stylebank.video.flow import FlowEstimator, consistent, full_size, warp
from stylebank.video.pipeline import VideoStylizer, stylize_frames
from stylebank.video.reader import upright
from stylebank.video.temporal import flat_pixels, warping_errors
from bundled import THIRD

SIZE = (160, 96)


@pytest.fixture(scope="module")
def model():
    return stylebank.load(device="cpu")


@pytest.fixture(scope="module")
def pan():
    return make_frames("pan", 8, SIZE)


def decoded(path) -> tuple[list[np.ndarray], list[float], int]:
    """A file's frames, their times, and its number of audio packets."""
    with av.open(str(path)) as container:
        audio = sum(1 for _ in container.demux(*container.streams.audio)) if container.streams.audio else 0
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [frame.to_ndarray(format="rgb24") for frame in frames], [frame.time for frame in frames], audio


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(float) - b.astype(float)) ** 2)
    return 10 * np.log10(255 ** 2 / max(mse, 1e-12))


def test_warp_follows_the_flow_and_occlusions_are_found():
    image = to_tensor(make_frames("pan", 1, (64, 48))[0])
    shift = torch.zeros(2, 48, 64)
    shift[0] = 3.0  # every pixel takes what is 3 columns to its right
    warped = warp(image, shift)
    assert torch.allclose(warped[:, :, :-3], image[:, :, 3:], atol=1e-5)
    backward = -shift
    assert consistent(shift, backward)[:, :-4].all()  # there and back again
    assert not consistent(shift, torch.zeros_like(shift))[:, :-4].any()  # the way back is wrong: untrusted
    assert not consistent(shift, backward)[:, -2:].any()  # leaving the frame: untrusted


def test_dis_flow_finds_a_known_shift():
    frames = [to_tensor(frame) for frame in make_frames("pan", 2, (192, 128), noise=0)]
    flow = FlowEstimator("medium")(frames[1], frames[0])  # the camera pans: content moves (-2.6, -1.3) px
    middle = flow[:, 30:-30, 30:-30].reshape(2, -1).median(1).values
    assert torch.allclose(middle, torch.tensor([2.6, 1.3]), atol=0.3), middle  # frame 1 pixel: where in frame 0


def test_flow_on_shrunk_frames_is_brought_back_to_full_size():
    """The flow computed at half size finds the same shift in full-size pixels; a pixel untrusted there leaves
    all the full-size pixels it covers untrusted."""
    frames = [to_tensor(frame) for frame in make_frames("pan", 2, (192, 128), noise=0)]
    estimator = FlowEstimator("medium", scale=0.5)
    small = estimator(frames[1], frames[0])
    assert small.shape == (2, 64, 96)
    trusted = torch.ones(64, 96, dtype=torch.bool)
    trusted[10, 20] = False
    flow, trusted = full_size(small, trusted, (128, 192))
    middle = flow[:, 30:-30, 30:-30].reshape(2, -1).median(1).values
    assert torch.allclose(middle, torch.tensor([2.6, 1.3]), atol=0.3), middle
    assert not trusted[20:22, 40:42].any() and trusted[30:, 60:].all()


def test_flat_flicker_counts_changes_in_flat_regions_only():
    """Still footage, half flat grey and half texture; outputs that flicker in one half only."""
    rng = np.random.default_rng(0)
    frame = torch.full((3, 48, 64), 0.5)
    frame[:, :, 32:] = torch.from_numpy(rng.random((3, 48, 32), np.float32))
    flat = flat_pixels(frame)
    assert flat[:, :24].all() and not flat[:, 40:].any()  # a margin of the window's half at the edge between
    frames = [frame] * 3
    for flickering, flat_error_is_zero in ((slice(40, 64), True), (slice(0, 24), False)):
        outputs = [frame.clone() for _ in frames]
        for t, output in enumerate(outputs):
            output[:, :, flickering] += 0.1 * (-1) ** t
        overall = np.mean(warping_errors(frames, outputs))
        in_flat = np.mean(warping_errors(frames, outputs, flat_only=True))
        assert overall > 0
        assert (in_flat == 0) if flat_error_is_zero else in_flat > overall


def test_a_steadied_input_averages_the_sensor_noise_out_where_the_flow_holds():
    """An identity backend (it paints what it is given) on a noisy clip: with the input steadied, and nothing of
    the output carried, what it is given flickers far less in flat regions, where the noise is all there is to
    change; the first frame is the photo's own."""
    class Identity(Stylizer):
        styles = ["identity"]

        def render(self, batch, options, carry=None):
            return batch

    frames = [to_tensor(frame) for frame in make_frames("handheld", 6, (128, 96), noise=6.0)]
    errors = {}
    for share in (0.0, 0.6):
        coherent = CoherentFrames(Identity(), StylizeOptions(0), Coherence("output", carry=0.0, steady_input=share))
        outputs = [coherent(frame) for frame in frames]
        assert torch.equal(outputs[0], frames[0])
        errors[share] = np.mean(warping_errors(frames, outputs, flat_only=True))
    assert errors[0.6] < 0.3 * errors[0.0], errors


def test_a_handheld_clip_moves_a_little_every_frame_and_never_by_whole_strides():
    frames = [to_tensor(frame) for frame in make_frames("handheld", 4, (96, 64), noise=0)]
    flow = FlowEstimator("medium")
    shifts = [flow(frames[t], frames[t + 1])[:, 16:48, 24:72].mean((1, 2)).abs().max().item() for t in range(3)]
    assert all(0.3 < shift < 4 for shift in shifts), shifts


def test_coherence_steadies_a_pan_and_its_first_frame_is_the_photos_own(model, pan):
    frames = [to_tensor(frame) for frame in pan]
    plain = [model.stylize_batch(f.unsqueeze(0), StylizeOptions(0))[0] for f in frames]
    coherent = CoherentFrames(model, StylizeOptions(0))
    steady = [coherent(f) for f in frames]
    assert torch.equal(steady[0], plain[0])  # nothing to carry yet
    assert coherent.scene_cuts == 0
    flicker, held = np.mean(warping_errors(frames, plain)), np.mean(warping_errors(frames, steady))
    assert held < flicker / 2, (held, flicker)  # benchmarks/video.py measures ~6x on longer clips


class Tint(Stylizer):
    """A backend that paints a fixed function of its input (tests of the pipeline, not of the network)."""

    styles = ["tint"]

    def render(self, batch, options, carry=None):
        return (0.2 + 0.6 * batch.roll(1, dims=1)).clamp(0, 1)


class PairedTint(Tint):
    """Tint taking two calls at once: each waits at a barrier for the other (so a pipeline that does not keep two
    frames in flight times out), and the earlier frame of a pair finishes last."""

    concurrent_calls = 2

    def __init__(self):
        self.barrier, self.lock, self.calls = threading.Barrier(2, timeout=20), threading.Lock(), 0

    def render(self, batch, options, carry=None):
        with self.lock:
            first_of_pair, self.calls = self.calls % 2 == 0, self.calls + 1
        self.barrier.wait()
        time.sleep(0.05 if first_of_pair else 0)
        return super().render(batch, options)


def test_frames_stylized_side_by_side_come_out_as_one_at_a_time(pan, monkeypatch):
    """Two frames in flight, the later one finishing first: the same pictures, in the same order, as frame after
    frame (the carried result blended in order); the flow's warps ran with PyTorch on one thread, and PyTorch's
    setting is back as it was between frames and after."""
    import stylebank.video.coherence

    single = VideoStylizer(Tint())
    expected = [single(frame) for frame in pan]
    threads_in_warps, threads_between_frames = set(), set()

    def noting_warp(*args, **kwargs):
        threads_in_warps.add(torch.get_num_threads())
        return warp(*args, **kwargs)

    monkeypatch.setattr(stylebank.video.coherence, "warp", noting_warp)
    paired = PairedTint()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        outputs = []
        for output in stylize_frames(paired, pan):
            threads_between_frames.add(torch.get_num_threads())
            outputs.append(output)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert paired.calls == len(pan) and threads_in_warps == {1} and threads_between_frames == {2}
    assert all(np.array_equal(a, b) for a, b in zip(outputs, expected)) and len(outputs) == len(expected)


def test_a_backend_taking_one_call_at_a_time_stylizes_on_the_callers_thread(pan):
    """The PyTorch model takes one call at a time: each frame is stylized in turn on the thread that asked (its
    device and grad mode are that thread's), not handed to a worker."""
    class NotingTint(Tint):
        threads = set()

        def render(self, batch, options, carry=None):
            self.threads.add(threading.current_thread())
            return super().render(batch, options)

    noting = NotingTint()
    assert len(list(stylize_frames(noting, pan[:3]))) == 3
    assert noting.threads == {threading.current_thread()}


def test_the_papers_feature_level_coherence_runs_through_the_pytorch_backend(model, pan):
    frames = [to_tensor(frame) for frame in pan[:4]]
    carried = CoherentFrames(model, StylizeOptions(0), Coherence("features", carry=1.0))
    outputs = [carried(f) for f in frames]
    plain = model.stylize_batch(frames[3].unsqueeze(0), StylizeOptions(0))[0]
    assert not torch.equal(outputs[3], plain)  # the carried features changed the frame
    assert carried.carried.shape[-2:] == (SIZE[1] // 4, SIZE[0] // 4)  # features, at H/4


def test_feature_coherence_carries_each_regions_features(model, pan):
    """With regions each region's stylized features are decoded apart (StyleBankNet.fuse), so each is carried."""
    frames = [to_tensor(frame) for frame in pan[:3]]
    labels = np.zeros((SIZE[1], SIZE[0]), np.uint8)
    labels[:, SIZE[0] // 2:] = 1
    options = StylizeOptions("0,2", labels)
    carried = CoherentFrames(model, options, Coherence("features", carry=1.0))
    outputs = [carried(f) for f in frames]
    channels = model.net.config.channels[-1]
    assert carried.carried.shape == (2 * channels, SIZE[1] // 4, SIZE[0] // 4)  # both regions' features
    assert not torch.equal(outputs[2], model.stylize_batch(frames[2].unsqueeze(0), options)[0])


def test_a_scene_cut_starts_afresh(model, pan):
    other = make_frames("zoom", 1, SIZE, photo="coffee")[0]
    frames = [to_tensor(frame) for frame in pan[:3] + [other]]
    coherent = CoherentFrames(model, StylizeOptions(2))
    outputs = [coherent(f) for f in frames]
    assert coherent.scene_cuts == 1
    assert torch.equal(outputs[3], model.stylize_batch(frames[3].unsqueeze(0), StylizeOptions(2))[0])


def test_fast_motion_that_fails_the_flow_check_is_not_a_scene_cut(pan, monkeypatch):
    """Where the flow's there-and-back check fails over most of a frame (fast motion, motion blur) but the previous
    frame carried along the flow still matches, nothing is carried there and the clip goes on: not a cut (a real
    clip's fast shots were taken for cuts before; docs/video.md)."""
    import stylebank.video.coherence

    monkeypatch.setattr(stylebank.video.coherence, "consistent", lambda forward, backward: torch.zeros(
        forward.shape[-2:], dtype=torch.bool))
    coherent = CoherentFrames(Tint(), StylizeOptions(0))
    outputs = [coherent(to_tensor(frame)) for frame in pan[:4]]
    assert coherent.scene_cuts == 0
    assert torch.equal(outputs[3], Tint().stylize_batch(to_tensor(pan[3]).unsqueeze(0))[0])  # nothing trusted


def test_feature_coherence_is_refused_by_a_backend_without_features():
    class Plain(Stylizer):  # renders arrays, as ONNX Runtime does: no features to carry
        styles = ["plain"]

        def render_array(self, batch, options):
            return batch

    with pytest.raises(StyleBankError, match="no features to carry"):
        CoherentFrames(Plain(), StylizeOptions(0), Coherence("features"))(torch.rand(3, 16, 16))
    assert CoherentFrames(Plain(), StylizeOptions(0), Coherence("output"))(torch.rand(3, 16, 16)).shape == (3, 16, 16)
    with pytest.raises(StyleBankError, match="coherence must be one of"):
        Coherence("optical")


def test_the_generator_takes_arrays_images_and_tensors_and_fixes_kmeans_regions(model, pan):
    kinds = [pan[0], Image.fromarray(pan[1]), to_tensor(pan[2])]
    outputs = list(stylize_frames(model, kinds, style="0;2", mask="kmeans:2", coherence=Coherence("none")))
    assert [o.shape for o in outputs] == [(SIZE[1], SIZE[0], 3)] * 3 and outputs[0].dtype == np.uint8
    video = VideoStylizer(model, style="0;2", mask="kmeans:2", max_size=80)
    first = video(pan[0])
    assert first.shape == (48, 80, 3)
    assert isinstance(video.frames.options.mask, np.ndarray)  # segmented once, on the first frame
    with pytest.raises(StyleBankError, match="unknown style"):
        VideoStylizer(model, style="cubism")


def test_the_command_passes_its_coherence_settings(tmp_path, monkeypatch, capsys):
    import stylebank.video.pipeline

    asked = []
    monkeypatch.setattr(stylebank.video.pipeline, "stylize_video", lambda *a, **settings: asked.append(settings) or {})
    clip = write_clip(tmp_path / "clip.mp4", make_frames("pan", 2, (64, 48)))
    main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--carry", "0.3", "--steady-input", "0.25", "--json"])
    assert asked[0]["coherence"] == Coherence("output", 0.3, steady_input=0.25)
    main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--json"])
    assert asked[1]["coherence"] == Coherence()  # the defaults
    with pytest.raises(SystemExit):
        main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--steady-input", "2"])
    assert "--steady-input: expected a number between 0 and 1" in capsys.readouterr().err


def test_the_command_keeps_times_and_audio_and_evens_an_odd_size(model, tmp_path, capsys):
    frames = make_frames("pan", 12, (161, 97))
    clip = write_clip(tmp_path / "clip.mp4", frames, rate=12, audio_seconds=1.0)
    _, times_in, audio_in = decoded(clip)
    assert main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "-s", THIRD, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "12 frames, 160x96, 12 fps, audio copied" in captured.out
    assert re.search(r"time per frame: decode \d+ ms, flow \d+ ms, steady input \d+ ms, stylize \d+ ms"
                     r"( \(2 frames at once\))?, blend \d+ ms, encode \d+ ms", captured.out), captured.out
    assert "H.264 needs even sides" in captured.err
    pixels, times_out, audio_out = decoded(tmp_path / "out.mp4")
    assert times_out == pytest.approx(times_in) and audio_out == audio_in
    with av.open(str(clip)) as container:  # what the command read, as the API stylizes it
        source = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    expected = list(stylize_frames(model, source, style=THIRD))
    assert min(psnr(a, b[:96, :160]) for a, b in zip(pixels, expected)) > 25  # H.264 (crf 18) of fine textures
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_folders_in_and_out_in_number_order_and_a_stretch_of_time(model, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = make_frames("zoom", 12, SIZE)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"f{index}.png")  # f10 after f9
    assert main(["video", str(folder), "-o", str(tmp_path / "out"), "--quiet", "--no-coherence"]) == 0
    written = sorted((tmp_path / "out").iterdir())
    assert [p.name for p in written][:2] == ["frame_000001.png", "frame_000002.png"] and len(written) == 12
    expected = list(stylize_frames(model, frames, coherence=Coherence("none")))
    assert same_picture(Image.open(written[10]), expected[10])
    clip = write_clip(tmp_path / "clip.mp4", frames, rate=12)
    assert main(["video", str(clip), "-o", str(tmp_path / "part"), "--quiet", "--start", "0.25",
                 "--duration", "0.5"]) == 0
    assert len(list((tmp_path / "part").iterdir())) == 6  # frames 3 to 8 of 12 a second


def test_a_folder_of_frames_is_never_written_over_with_its_own_frames(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(make_frames("pan", 2, SIZE)):
        Image.fromarray(frame).save(folder / f"f{index}.png")
    before = sorted(path.read_bytes() for path in folder.iterdir())
    for output in (folder, tmp_path):  # the input folder itself, and a folder that holds it
        assert main(["video", str(folder), "-o", str(output), "--quiet", "--overwrite"]) == 1
        assert "refusing to write over an input" in capsys.readouterr().err
    assert sorted(path.read_bytes() for path in folder.iterdir()) == before


def test_a_variable_frame_rate_keeps_its_times(tmp_path):
    path = tmp_path / "vfr.mkv"
    times = [0, 1, 2, 5, 6, 10, 11, 12]  # in 1/10 s
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.time_base = Fraction(1, 10)
        for tick, pixels in zip(times, make_frames("pan", len(times), SIZE)):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts, frame.time_base = tick, Fraction(1, 10)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert main(["video", str(path), "-o", str(tmp_path / "out.mkv"), "--quiet"]) == 0
    assert decoded(tmp_path / "out.mkv")[1] == pytest.approx([t / 10 for t in times])


def audio_only(path):
    with av.open(str(path), "w") as container:
        from stylebank.video.clips import write_tone

        write_tone(container, container.add_stream("aac", rate=16000), 0.5)
    return path


BAD_VIDEOS = [
    ("not a video", lambda p: written(p / "notes.mp4", b"hello"), [], "not a video, or a damaged or truncated one"),
    ("empty", lambda p: written(p / "empty.mp4", b""), [], "empty file"),
    ("no video stream", lambda p: audio_only(p / "tone.m4a"), [], "no video stream (only 1 audio)"),
    ("missing", lambda p: p / "nothing.mp4", [], "no such file or folder"),
    ("truncated", lambda p: truncated(p, "mp4"), [], "not a video, or a damaged or truncated one"),
    ("truncated stream", lambda p: truncated(p, "mkv"), [], "truncated"),
    ("too large", lambda p: write_clip(p / "clip.mp4", make_frames("pan", 2, SIZE)), ["--max-pixels", "10000"],
     "160x96 frames are 0.0154 megapixels, above the limit of 0.01"),
    ("past its end", lambda p: write_clip(p / "clip.mp4", make_frames("pan", 3, SIZE)), ["--start", "5"],
     "no frames to write"),
    ("bad time", lambda p: write_clip(p / "clip.mp4", make_frames("pan", 2, SIZE)), ["--start", "soon"],
     "expected seconds or [hh:]mm:ss"),
    ("bad container", lambda p: write_clip(p / "clip.mp4", make_frames("pan", 2, SIZE)), ["-o", "out.avi"],
     "write .mp4, .mov or .mkv"),
]


def written(path, data: bytes):
    path.write_bytes(data)
    return path


def truncated(folder, kind: str):
    """A clip cut in half: an MP4 loses its index (written last), a Matroska file its second half of frames
    (enough of them that the output file has begun: H.264 holds back its first 40 frames or so)."""
    data = write_clip(folder / f"whole.{kind}", make_frames("pan", 160, (64, 48))).read_bytes()
    return written(folder / f"cut.{kind}", data[: len(data) // 2])


@pytest.mark.parametrize("make, options, message", [case[1:] for case in BAD_VIDEOS],
                         ids=[case[0] for case in BAD_VIDEOS])
def test_a_bad_video_is_one_line_and_leaves_no_output(tmp_path, monkeypatch, capsys, make, options, message):
    monkeypatch.chdir(tmp_path)
    source = make(tmp_path)
    before = set(tmp_path.iterdir())
    arguments = ["video", str(source), "-o", "out.mp4", "--quiet", *options]
    try:
        code = main(arguments)
    except SystemExit as stop:  # a usage error from argparse
        code = stop.code
    assert code in (1, 2)
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error and len(error.strip().splitlines()) == 1, error
    assert set(tmp_path.iterdir()) == before  # no output, no partial file


def test_an_existing_output_is_kept_unless_overwrite(tmp_path, capsys):
    clip = write_clip(tmp_path / "clip.mp4", make_frames("pan", 2, SIZE))
    (tmp_path / "out.mp4").write_bytes(b"mine")
    assert main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--quiet"]) == 1
    assert "already exists; add --overwrite" in capsys.readouterr().err
    assert (tmp_path / "out.mp4").read_bytes() == b"mine"
    assert main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--quiet", "--overwrite"]) == 0
    assert len(decoded(tmp_path / "out.mp4")[0]) == 2


def test_upright_turns_a_sideways_frame():
    class Sideways:
        rotation = 90

        def to_ndarray(self, format):
            return np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)

    turned = upright(Sideways())
    assert turned.shape == (3, 2, 3) and np.array_equal(turned, np.rot90(Sideways().to_ndarray("rgb24")))


@pytest.mark.slow
def test_ctrl_c_leaves_no_partial_file(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", make_frames("pan", 200, (320, 192)))
    # a process started from a background job (`.ci/run &`) inherits an ignored SIGINT, and Python then never
    # raises KeyboardInterrupt: the child takes Ctrl-C as a terminal's foreground program does
    as_in_a_terminal = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
                        "from stylebank.cli import main; sys.exit(main())")
    process = subprocess.Popen([sys.executable, "-c", as_in_a_terminal, "video", str(clip), "-o",
                                str(tmp_path / "out.mp4")], stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    # interrupted once the encoder has written into its partial file (it holds the first frames back a while)
    deadline = time.monotonic() + 240
    while not any(p.name != "clip.mp4" and p.stat().st_size > 0 for p in tmp_path.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, "the partial file never grew"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_without_the_video_extra_the_command_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # as if stylebank[video] were not installed
    assert main(["video", "in.mp4", "-o", str(tmp_path / "out.mp4")]) == 1
    assert "pip install 'stylebank[video]'" in capsys.readouterr().err


def test_video_shrinks_large_frames_by_default_and_says_so(tmp_path, capsys, monkeypatch):
    import stylebank.cli.video

    monkeypatch.setattr(stylebank.cli.video, "DEFAULT_MAX_SIZE", 40)  # as 1024 is to a 4K clip
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(make_frames("pan", 3, (64, 48))):
        Image.fromarray(frame).save(folder / f"f{index}.png")
    assert main(["video", str(folder), "-o", str(tmp_path / "out"), "--no-coherence"]) == 0
    written = sorted((tmp_path / "out").iterdir())
    assert len(written) == 3 and Image.open(written[0]).size == (40, 30)
    assert "the frames are 64x48; stylized at 40x30 (--max-size 40; --max-size 0 keeps" in capsys.readouterr().err
    assert main(["video", str(folder), "-o", str(tmp_path / "full"), "--no-coherence", "--max-size", "0"]) == 0
    assert Image.open(sorted((tmp_path / "full").iterdir())[0]).size == (64, 48)
    assert "note" not in capsys.readouterr().err


def audio_times(path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(packet.pts * packet.time_base) for packet in container.demux(*container.streams.audio)
                if packet.pts is not None and packet.size]


def test_start_moves_picture_and_audio_times_to_the_clips_start(tmp_path):
    frames = make_frames("pan", 12, SIZE)
    clip = write_clip(tmp_path / "clip.mp4", frames, rate=12, audio_seconds=1.0)
    _, times_in, _ = decoded(clip)
    audio_in = audio_times(clip)
    out = tmp_path / "part.mp4"
    assert main(["video", str(clip), "-o", str(out), "--quiet", "--start", "0.25", "--duration", "0.5",
                 "--no-coherence"]) == 0
    pixels, times_out, _ = decoded(out)
    kept = [t - 0.25 for t in times_in if 0.25 - 1e-6 <= t < 0.75]
    assert len(kept) == 6 and times_out == pytest.approx(kept, abs=1e-3)
    audio_out = audio_times(out)
    expected_audio = [t - 0.25 for t in audio_in if 0.25 <= t < 0.75]
    assert audio_out and audio_out == pytest.approx(expected_audio, abs=2e-3)
    # the first picture is the input's frame at 0.25 s, stylized: nearer it than the clip's first frame
    stylized = list(stylize_frames(stylebank.load(device="cpu"), [frames[0], frames[3]], coherence=Coherence("none")))
    first = pixels[0].astype(np.int16)
    assert np.abs(first - stylized[1]).mean() < np.abs(first - stylized[0]).mean()


def test_the_trust_mask_drops_what_entered_the_frame_or_changed_colour(model):
    """The camera pans right and down (the picture moves left and up): what enters at the right and bottom edges
    has no past to carry, nor does a patch that changed colour; the rest is carried."""
    frames = [to_tensor(frame) for frame in make_frames("pan", 4, (160, 96), noise=0)]
    earlier, later = frames[0], frames[3].clone()  # about 8 px right and 4 down apart
    later[:, 40:64, 60:92] = torch.tensor([0.9, 0.1, 0.8]).view(3, 1, 1)  # repainted magenta
    coherent = CoherentFrames(model, StylizeOptions(0))
    coherent.seen = (coherent.flow.grey(earlier), earlier)
    trust = coherent.link(coherent.flow.grey(later), later)[0].trust[0]
    assert trust[44:60, 64:88].mean() < 0.1  # changed colour
    assert trust[:, -6:].mean() < 0.2 and trust[-3:].mean() < 0.2  # entered the frame
    assert trust[64:90, :100].mean() > 0.9 and trust[:40, 30:120].mean() > 0.9  # the rest is carried
