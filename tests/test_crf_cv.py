"""DeepLab-style CRF cross-validation: grids, stored probabilities, fast vs exhaustive, gloo."""

import json
import socket
from pathlib import Path

import numpy as np
import pytest
import torch.multiprocessing as tmp_mp
from PIL import Image

from repro.crf.cv import (
    GRIDS,
    grid_points,
    load_manifest,
    main_crf_cv,
    parse_grid,
    replay,
    save_probabilities,
    search,
    select_images,
)
from repro.crf.synthetic import make_dataset

SMALL_GRID = "w1=3:6,sigma_alpha=30:20:90,sigma_beta=3:6"  # 64 points


def _items(tmp: Path, n: int, h: int, w: int, seed: int) -> list:
    (tmp / "img").mkdir(parents=True, exist_ok=True)
    items = []
    for name, p, img, lab in make_dataset(n, h, w, seed=seed, scale=4.0, noise=1.5):
        ip, lp = tmp / "img" / f"{name}.png", tmp / "img" / f"{name}_gt.png"
        Image.fromarray(img).save(ip)
        Image.fromarray(lab).save(lp)
        items.append((name, p, str(ip), str(lp)))
    return items


def _write(tmp: Path, n: int, h: int, w: int, seed: int) -> Path:
    save_probabilities(tmp, _items(tmp, n, h, w, seed))
    return tmp


def test_grids_and_parsing():
    assert len(grid_points(parse_grid("v1"))) == 96 and len(grid_points(parse_grid("v2"))) == 128, (
        "DeepLab's grids: v1 has 2 x 6 x 8 = 96 points, v2 4 x 8 x 4 = 128."
    )
    assert parse_grid("w1=3:6,sigma_alpha=30:10:100,sigma_beta=3:6") == GRIDS["v2"], (
        "The MATLAB-notation string for the v2 grid must parse to GRIDS['v2']."
    )
    assert parse_grid("w1=[5 10],sigma_alpha=50:10:100,sigma_beta=3:1:10") == GRIDS["v1"]
    pts = grid_points(parse_grid("w1=4,sigma_alpha=121,sigma_beta=5"))
    assert pts == [dict(w1=4, sigma_alpha=121, sigma_beta=5, w2=3.0, sigma_gamma=3.0,
                        iterations=10)], "Axes not in the grid keep DeepLab's fixed values."
    for bad in ("w1=3:6,sigma_alpha=30:100", "bi_w=4,w1=3,sigma_alpha=3,sigma_beta=3", "v3"):
        with pytest.raises(ValueError):
            parse_grid(bad)


def test_select_images_is_seeded_and_keeps_order():
    ids = [f"2007_{i:06d}" for i in range(1449)]
    a, b = select_images(ids, 100, seed=0), select_images(ids, 100, seed=0)
    assert a == b and len(set(a)) == 100, "select_images must draw 100 distinct ids reproducibly."
    assert a == sorted(a, key=ids.index), "The selection should keep the ids' original order."
    assert select_images(ids, 100, seed=1) != a, "Another seed should give another selection."


def test_save_probabilities_round_trip(tmp_path):
    d = _write(tmp_path, 2, 24, 32, seed=0)
    man = load_manifest(d)
    assert man["num_classes"] == 21 and len(man["items"]) == 2
    with np.load(d / man["items"][0]["probs"]) as z:
        assert z["probs"].dtype == np.float16 and z["probs"].shape == (21, 24, 32), (
            "Probabilities must be stored once as float16 (C, H, W) arrays."
        )


def test_fast_search_matches_exhaustive_optimum(tmp_path):
    d = _write(tmp_path, 10, 36, 48, seed=0)
    ex = search(d, grid=SMALL_GRID, strategy="exhaustive", progress=False, keep_pairs=True)
    fast = search(d, grid=SMALL_GRID, strategy="fast", workers=2, progress=False)
    ex_miou = {(p["w1"], p["sigma_alpha"], p["sigma_beta"]): p["miou"] for p in ex["points"]}
    b = fast["best"]
    picked = ex_miou[(b["w1"], b["sigma_alpha"], b["sigma_beta"])]
    assert ex["best_miou"] - picked <= 0.1, (
        f"The fast search picked {b} with mIoU {picked:.3f}, more than 0.1 below the exhaustive "
        f"optimum {ex['best_miou']:.3f}: the pattern search must move while a neighbour is better "
        "(try neighbourhood='box')."
    )
    assert ex["best_miou"] > ex["no_crf_miou"] + 2, "The CRF should help on the synthetic data."
    assert fast["evaluations"] * 3 <= ex["evaluations"], (
        f"The fast search ran {fast['evaluations']} CRF calls of {ex['evaluations']}: it should "
        "need at most a third of them on this 64-point grid (~12 % on DeepLab's v2 grid)."
    )
    assert fast["best_miou"] == pytest.approx(picked) and fast["no_crf_miou"] == pytest.approx(
        ex["no_crf_miou"]
    ), "Both strategies must score a point on all images identically (same confusion matrices)."
    # The replay of the stored matrices must reproduce the live searches.
    pairs = ex["pair_confusions"]
    for strategy in ("exhaustive", "fast", "coarse_to_fine", "halving"):
        r = replay(pairs, SMALL_GRID, strategy, seed=0, first_images=4)
        assert r["gap"] >= 0 and r["optimum"] == pytest.approx(ex["best_miou"]), (
            f"replay({strategy!r}) must score points on the same matrices as the live search."
        )
    assert replay(pairs, SMALL_GRID, "fast")["evaluations"] == fast["evaluations"], (
        "The replayed fast search must evaluate exactly what the live one did."
    )


def test_main_crf_cv_writes_json_and_heatmap(tmp_path):
    d = _write(tmp_path, 4, 24, 32, seed=1)
    out = tmp_path / "cv" / "result.json"
    res = main_crf_cv(d, grid="w1=3:4,sigma_alpha=30:70:100,sigma_beta=3:4",
                      strategy="halving", out=out, workers=1, progress=False, first_images=2)
    saved = json.loads(out.read_text())
    assert saved["best"] == res["best"] and len(saved["points"]) == 8, (
        "The JSON must hold the chosen parameters and the mIoU of every evaluated point."
    )
    assert {"strategy", "wall_time_s", "best_miou", "rungs"} <= set(saved)
    assert out.with_suffix(".png").stat().st_size > 1000, "A heat-map PNG should be written."


# ---------------------------------------------------------------------- distributed (gloo)
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dist_worker(rank, world, port, tmp, grid):
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        # Each rank saves its shard (with one image on both ranks, like a sampler's padding).
        items = _items(Path(tmp) / f"img{rank}", 6, 24, 32, seed=2)
        shard = items[rank::world] + items[:1]
        save_probabilities(Path(tmp) / "dist", shard, collective=True)
        res = search(Path(tmp) / "dist", grid=grid, strategy="halving", workers=1,
                     progress=False, first_images=2, min_keep=2)
        keep = {k: res[k] for k in ("best", "best_miou", "points", "evaluations", "world_size",
                                    "images")}
        (Path(tmp) / f"rank{rank}.json").write_text(json.dumps(keep))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_equals_one_process(tmp_path):
    grid = "w1=3:4,sigma_alpha=30:40:70,sigma_beta=3:4"
    # "fork": spawn would re-import the harness (mmseg) in each child, ~10 s each here.
    tmp_mp.start_processes(
        _dist_worker, args=(2, _free_port(), str(tmp_path), grid), nprocs=2, start_method="fork"
    )
    save_probabilities(tmp_path / "single", _items(tmp_path / "img", 6, 24, 32, seed=2))
    single = search(tmp_path / "single", grid=grid, strategy="halving", workers=1,
                    progress=False, first_images=2, min_keep=2)
    for rank in (0, 1):
        r = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert r["world_size"] == 2, "The search should see the 2-process group."
        assert r["images"] == single["images"], (
            "save_probabilities(collective=True) must merge the ranks' shards into one manifest "
            "listing every image once, as one process would."
        )
        assert r["best"] == single["best"] and r["best_miou"] == single["best_miou"], (
            f"Rank {rank} chose {r['best']} ({r['best_miou']}) but one process chose "
            f"{single['best']} ({single['best_miou']}): the per-point confusion matrices must be "
            "all-reduced (summed) before ranking, with images sharded over the ranks."
        )
        timeless = [{k: v for k, v in p.items() if k != "seconds_per_image"} for p in r["points"]]
        expected = [{k: v for k, v in p.items() if k != "seconds_per_image"}
                    for p in json.loads(json.dumps(single["points"]))]
        assert timeless == expected, (
            "Every evaluated point's mIoU must equal the 1-process value on every rank."
        )


# ------------------------------------------------------------------ the fast search's moves
def _landscape(values: np.ndarray) -> np.ndarray:
    """Stored (P, 1, 2, 2) confusion matrices whose mIoU increases with ``values`` (0..100)."""
    pairs = np.zeros((values.size, 1, 2, 2), np.int64)
    for p, t in enumerate(values.ravel()):
        pairs[p, 0] = [[t, 100 - t], [0, 100]]  # IoU0 = t/100, IoU1 = 100/(200-t)
    return pairs


def test_fast_search_long_steps_and_final_box_escape_local_optima():
    line = "w1=1:7,sigma_alpha=50,sigma_beta=5"  # 7 points, the search starts at w1=4
    pairs = _landscape(np.array([10, 20, 30, 40, 35, 50, 60]))
    short = replay(pairs, line, "fast", steps=(1,))
    assert short["gap"] > 0, "With +-1 steps the search must stop at the bump w1=4 (local optimum)."
    long = replay(pairs, line, "fast", steps=(2, 1))
    assert long["gap"] == 0 and long["best"] == 6, (
        "With steps (2, 1) the search must jump over the dip and reach the optimum at w1=7 (the "
        "+2 step from w1=6 is clipped to the grid's edge)."
    )
    square = "w1=1:3,sigma_alpha=10:10:30,sigma_beta=5"  # 3 x 3, starts at the centre
    values = np.array([[10, 20, 10], [40, 50, 40], [10, 40, 70]])
    axis = replay(_landscape(values), square, "fast", steps=(1,), final_box=False)
    box = replay(_landscape(values), square, "fast", steps=(1,), final_box=True)
    assert axis["best"] == 4 and box["best"] == 8, (
        "The axis search stops at the centre (all 4 axis neighbours are worse); final_box must "
        "poll the diagonal neighbours and move to the corner (w1=3, sigma_alpha=30)."
    )
    with pytest.raises(ValueError, match="steps"):
        replay(pairs, line, "fast", steps=(2, 0))
