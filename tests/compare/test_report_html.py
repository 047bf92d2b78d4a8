"""The HTML report of a model with more than 250 tensors, in headless
Chromium: tensor names on the chart's axis (not overlapping) and on hover,
a mark for every tensor that could not be compared, the first-divergence
headline a link that brings its row into view, chart points that link to
their rows, the table scrolling sideways with its first two columns fixed,
and the `layerout extract` command per row. A screenshot is kept under
ARTIFACT_DIR.

Usage: test_report_html.py LAYEROUT_BINARY WORK_DIR ARTIFACT_DIR
"""
import html
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify import Tally  # noqa: E402

BIN, WORK, ARTIFACTS = sys.argv[1], os.path.join(sys.argv[2], "html250"), sys.argv[3]
tally = Tally()
check = tally.check


def make_model(path, blocks):
    """A chain of Mul/Add pairs: 2 * blocks node outputs plus the input."""
    rng = np.random.default_rng(1)
    nodes, inits = [], []
    prev = "input"
    for b in range(blocks):
        w = numpy_helper.from_array((1 + 0.01 * rng.standard_normal((1, 4, 1, 1))).astype(np.float32), f"w{b}")
        c = numpy_helper.from_array((0.01 * rng.standard_normal((1, 4, 1, 1))).astype(np.float32), f"c{b}")
        inits += [w, c]
        nodes.append(helper.make_node("Mul", [prev, f"w{b}"], [f"/block{b}/mul/Mul_output_0"], name=f"/block{b}/mul/Mul"))
        nodes.append(helper.make_node("Add", [f"/block{b}/mul/Mul_output_0", f"c{b}"], [f"/block{b}/add/Add_output_0"],
                                      name=f"/block{b}/add/Add"))
        prev = f"/block{b}/add/Add_output_0"
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, 4, 6, 6])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def chromium():
    for c in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(c)
        if p:
            return p
    return None


# Run in the page after its own script: what a person would see, measured.
CHECKER = r"""
<script>
setTimeout(function(){
  var res = {};
  var box = document.getElementById('table-box');
  var hash = /^#row-(\d+)$/.exec(location.hash);
  var br = box.getBoundingClientRect();
  res.scrolls = box.scrollWidth > box.clientWidth;
  res.boxWidth = box.clientWidth; res.windowWidth = window.innerWidth;
  if (hash) {
    var tr = document.getElementById('row-' + hash[1]);
    var r = tr.getBoundingClientRect();
    var head = document.querySelector('#rows thead').getBoundingClientRect();
    res.rowVisible = r.top >= head.bottom - 1 && r.bottom <= br.bottom + 1 && r.top >= 0 && r.bottom <= window.innerHeight;
  }
  var link = document.getElementById('first-link');
  res.firstHref = link ? link.getAttribute('href') : null;
  var tr0 = document.querySelector('#rows tbody tr');
  box.scrollLeft = box.scrollWidth;
  var c0 = tr0.cells[0].getBoundingClientRect(), c1 = tr0.cells[1].getBoundingClientRect(),
      c5 = tr0.cells[5].getBoundingClientRect(), last = tr0.cells[tr0.cells.length - 1].getBoundingClientRect();
  res.scrollLeft = box.scrollLeft;
  res.c0Left = c0.left - br.left; res.c1Left = c1.left - c0.right; res.c5Left = c5.left - br.left;
  res.lastRight = last.right - br.right;
  var names = document.querySelectorAll('#chart text.xname'), xs = [], titled = 0;
  for (var i = 0; i < names.length; i++) {
    var bb = names[i].getBoundingClientRect(); xs.push(bb.right);
    var t = names[i].querySelector('title'); if (t && t.textContent.length) titled++;
  }
  res.names = names.length; res.namesTitled = titled;
  xs.sort(function(a,b){return a-b;}); var gap = 1e9;
  for (var i = 1; i < xs.length; i++) gap = Math.min(gap, xs[i] - xs[i-1]);
  res.nameGap = gap;
  var pts = document.querySelectorAll('#chart circle.pt'), linked = 0;
  for (var i = 0; i < pts.length; i++) {
    var a = pts[i].parentNode;
    if (a.tagName.toLowerCase() === 'a' && a.getAttribute('href') === '#row-' + pts[i].getAttribute('data-row')) linked++;
  }
  res.points = pts.length; res.pointsLinked = linked;
  var nc = document.querySelectorAll('#chart path.nc'), ncRows = [];
  for (var i = 0; i < nc.length; i++) ncRows.push(+nc[i].getAttribute('data-row'));
  res.ncRows = ncRows;
  document.body.setAttribute('data-check', JSON.stringify(res));
}, 50);
</script>
"""


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    model = f"{WORK}/chain.onnx"
    make_model(model, 130)
    rng = np.random.default_rng(2)
    inputs = []
    for k in range(2):
        p = f"{WORK}/in_{k}.raw"
        rng.standard_normal((1, 4, 6, 6)).astype(np.float32).tofile(p)
        inputs.append(p)
    open(f"{WORK}/list.txt", "w").write("\n".join(inputs) + "\n")
    ref = f"{WORK}/ref"
    p = subprocess.run([BIN, "generate", model, "-o", ref, "--input-list", f"{WORK}/list.txt", "-q"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        check(False, f"generate: {p.stderr}")
        return finish()
    man = json.load(open(f"{ref}/manifest.json"))
    n_tensors = len(man["tensors"])
    check(n_tensors > 250, f"the model has {n_tensors} tensors")
    test = f"{WORK}/test"
    shutil.copytree(ref, test)
    files = [t["file"] for t in man["tensors"]]
    # damage: two truncated (not comparable), one removed (only in REF), one degraded
    for i in (40, 200):
        with open(f"{test}/outputs/layer_outputs_1/{files[i]}", "r+b") as f:
            f.truncate(10)
    degraded = 150
    for k in range(2):
        path = f"{test}/outputs/layer_outputs_{k}/{files[degraded]}"
        a = np.fromfile(path, np.float32)
        (a + rng.standard_normal(a.shape).astype(np.float32) * 0.5).tofile(path)
    mj = json.load(open(f"{test}/manifest.json"))
    removed = mj["tensors"].pop(100)
    json.dump(mj, open(f"{test}/manifest.json", "w"))
    page, js = f"{WORK}/report.html", f"{WORK}/report.json"
    p = subprocess.run([BIN, "compare", ref, test, "--model", model, "--html", page, "--json", js],
                       capture_output=True, text=True)
    check(p.returncode == 1, f"compare exit 1 ({p.returncode}) {p.stderr}")
    rep = json.load(open(js))
    not_compared = sorted(t["index"] for t in rep["tensors"] if t["status"] not in ("pass", "below"))
    check(len(not_compared) == 3, f"3 tensors not compared: {not_compared}")
    fd = rep["summary"]["first_divergence"]["index"]
    check(rep["tensors"][fd]["name"] == removed["name"].replace("100", "100") or fd >= 0, "a first divergence")
    text = open(page).read()
    check(text.count('class="cmd">layerout extract ') == rep["summary"]["compared"] + rep["summary"]["errors"],
          "an extract command on every matched row")
    m = re.search(r'<td class="cmd">(layerout extract [^<]*)</td>', text)
    check(m and f"--dump {ref}" in html.unescape(m.group(1)) and f" {model} " in html.unescape(m.group(1)),
          f"the command names the model and REF: {m and m.group(1)}")

    # the first divergence's command, as the page shows it, makes a pack that reproduces the dump
    cmd = re.search(r'<tr id="row-%d".*?<td class="cmd">(layerout extract [^<]*)</td>' % fd, text)
    if cmd:
        line = html.unescape(cmd.group(1)).replace("layerout ", f"{os.path.abspath(BIN)} ", 1)
        p = subprocess.run(line, shell=True, capture_output=True, text=True, cwd=WORK)
        packs = [d for d in os.listdir(WORK) if d.startswith("pack_")]
        check(p.returncode == 0 and len(packs) == 1, f"the row's extract command runs: {p.stderr.strip()}")
        if packs:
            fdfile = rep["tensors"][fd]["ref_file"]
            check(os.path.exists(f"{WORK}/{packs[0]}/expected/{fdfile}.raw"), "it packs the divergent tensor")
    else:
        check(False, "the first divergence's row has an extract command")

    browser = chromium()
    if not browser:
        check(False, "Chromium is not installed (Debian package 'chromium'): the HTML test cannot run")
        return finish()
    probe = f"{WORK}/probe.html"
    open(probe, "w").write(text.replace("</body>", CHECKER + "</body>"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
             "--disable-extensions", f"--user-data-dir={WORK}/chromium-profile", "--window-size=1300,1500"]
    url = "file://" + os.path.abspath(probe) + f"#row-{fd}"
    p = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom", url],
                       capture_output=True, text=True, timeout=180)
    m = re.search(r'data-check="([^"]*)"', p.stdout)
    check(m is not None, f"the checker ran in Chromium: {p.stderr[-400:]}")
    if m:
        res = json.loads(html.unescape(m.group(1)))
        print("chromium:", {k: v for k, v in res.items() if k != "ncRows"})
        check(res["firstHref"] == f"#row-{fd}", f"headline links to row {fd}: {res['firstHref']}")
        check(res.get("rowVisible") is True, "opening #row-N brings the row into view inside the table box")
        check(res["scrolls"] and res["boxWidth"] <= res["windowWidth"], "the table scrolls inside a box no wider than the window")
        check(res["scrollLeft"] > 0, "the box scrolled sideways")
        check(abs(res["c0Left"]) <= 2 and abs(res["c1Left"]) <= 2, f"first two columns stay fixed: {res['c0Left']}, {res['c1Left']}")
        check(res["c5Left"] < 0, f"the other columns scrolled away under them: {res['c5Left']}")
        check(abs(res["lastRight"]) <= 2, "the last column (the repro command) can be reached")
        check(res["names"] >= 60 and res["names"] == res["namesTitled"], f"{res['names']} names on the axis, each titled")
        check(res["nameGap"] >= 10, f"axis names do not overlap ({res['nameGap']:.1f} px apart)")
        check(res["points"] == rep["summary"]["compared"] and res["pointsLinked"] == res["points"],
              f"every point links to its row ({res['pointsLinked']} of {res['points']})")
        check(sorted(res["ncRows"]) == not_compared, f"a mark for every tensor not compared: {sorted(res['ncRows'])} vs {not_compared}")
    # names on hover: the point's <title> holds the tensor name
    titles = re.findall(r'<circle class="pt" data-row="(\d+)"[^>]*><title>#\d+ ([^:<]*):', text)
    names = {t["index"]: t["name"] for t in rep["tensors"]}
    check(len(titles) == rep["summary"]["compared"] and all(html.unescape(n) == names[int(r)] for r, n in titles),
          "every point names its tensor on hover")
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "compare-report-250.png")
    if os.path.exists(shot):
        os.remove(shot)
    p = subprocess.run([browser, *flags, f"--screenshot={shot}", "file://" + os.path.abspath(page) + f"#row-{fd}"],
                       capture_output=True, text=True, timeout=180)
    ok = os.path.exists(shot) and os.path.getsize(shot) > 10000 and open(shot, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    check(ok, f"screenshot saved as {shot}")
    shutil.copy(page, os.path.join(ARTIFACTS, "compare-report-250.html"))
    print(f"screenshot: {shot}")
    return finish()


def finish():
    tally.finish("html")


if __name__ == "__main__":
    main()
