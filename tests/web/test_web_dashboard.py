"""The dashboard in a real headless Chromium against a running `suanli serve`: every scenario
of issue 8's first must-hold item, with a screenshot of each page (tests/web/browsing.py).

The tests of this module share one service and one browser and run in order; each logs in
with the token it needs.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from browsing import Dashboard, Served
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from serving import job_doc, wait_for


def submit(client: httpx.Client, **spec: object) -> str:
    r = client.post("/v1/jobs", json=job_doc(**spec))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def job_state(served: Served, job_id: str) -> str:
    with served.client("operator") as c:
        return str(c.get(f"/v1/jobs/{job_id}").json()["status"]["state"])


def test_web_an_unknown_token_is_refused_and_a_good_one_opens_the_map_of_all_sites(
    served: Served, dashboard: Dashboard
) -> None:
    dashboard.login("sl_not-a-token")
    assert dashboard.page() == "login"
    assert "Unknown token" in dashboard.find("[role=alert]").text
    dashboard.shot("login")

    dashboard.login(served.tokens["operator"])
    assert dashboard.page() == "map"
    with served.client("operator") as c:
        sites = {s["id"]: s for s in c.get("/v1/network").json()["sites"]}
    rows = dashboard.all("#sites-table tbody tr")
    assert len(rows) == len(sites) > 10
    links = {a.get_attribute("href").rsplit("/", 1)[1] for a in dashboard.all("#sites-table a")}
    assert links == set(sites)
    # China's view: a marker for every site in it, the others named under the map
    drawn = set(map_markers(dashboard))
    off = {a.get_attribute("href").rsplit("/", 1)[1] for a in dashboard.all("#map-off-view a")}
    assert drawn | off == set(sites) and not drawn & off
    assert {"guian", "zhangjiakou", "shaoguan", "kr", "jp-tk"} <= drawn
    assert "signed in as operator" in dashboard.find("#who").text
    dashboard.shot("map")


def map_markers(dashboard: Dashboard) -> dict[str, dict[str, object]]:
    """The map's site markers: id -> accessible name, centre and radius (SVG pixels), and
    whether the name is drawn beside it."""
    return dict(
        dashboard.driver.execute_script(
            "const out = {};"
            "for (const a of document.querySelectorAll('#map-chart a.site')) {"
            "  const c = a.querySelector('circle'), id = a.dataset.site;"
            "  const name = document.querySelector(`#map-chart .names text[data-site='${id}']`);"
            "  out[id] = {label: a.getAttribute('aria-label'), x: +c.getAttribute('cx'),"
            "    y: +c.getAttribute('cy'), r: +c.getAttribute('r'), color: c.getAttribute('fill'),"
            "    named: name ? name.textContent : null};"
            "}"
            "return out;"
        )
    )


def choose(dashboard: Dashboard, select: str, value: str) -> None:
    dashboard.driver.execute_script(
        "const s = document.querySelector(arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('change'))",
        select,
        value,
    )


def test_web_the_world_map_draws_every_site_with_its_name_price_and_carbon_and_every_link(
    served: Served, dashboard: Dashboard
) -> None:
    dashboard.login(served.tokens["operator"])
    with served.client("operator") as c:
        net = c.get("/v1/network").json()
    choose(dashboard, "#map-view", "world")
    markers = map_markers(dashboard)
    assert set(markers) == {s["id"] for s in net["sites"]}
    for s in net["sites"]:
        m = markers[s["id"]]
        assert m["named"] == s["id"]
        label = str(m["label"])
        assert s["name"] in label, label
        assert f"price now {s['priceYuanPerKwh']:.3f} yuan/kWh" in label, label
        assert f"carbon now {s['carbonKgPerKwh']:.3f} kgCO2/kWh" in label, label
    x, y, r = ({k: float(str(m[c])) for k, m in markers.items()} for c in ("x", "y", "r"))
    # placed by coordinates: east is right, north is up
    assert x["jp-tk"] > x["kr"] > x["guian"] > x["tianfu"] > x["de-lu"] > x["gb"] > x["br-sp"]
    assert y["gb"] < y["zhangjiakou"] < y["guian"] < y["shaoguan"] < y["sg"] < y["br-sp"]
    # sized by capacity
    acc = sorted((s["accelerators"], s["id"]) for s in net["sites"])
    assert r[acc[-1][1]] > r[acc[0][1]]
    drawn = set(
        dashboard.driver.execute_script(
            "return [...document.querySelectorAll('#map-chart .link')].map(l => l.dataset.link)"
        )
    )
    fast = {f"{lk['src']}|{lk['dst']}" for lk in net["links"] if lk["latencyMs"] <= 15}
    assert drawn == fast and fast
    title = str(
        dashboard.driver.execute_script(
            "return document.querySelector('#map-chart .link title').textContent"
        )
    )
    assert " ms one way, " in title and "Gbit/s" in title
    choose(dashboard, "#max-latency", "500")
    assert len(dashboard.all("#map-chart .link")) == len(net["links"])
    choose(dashboard, "#color-by", "carbon")
    assert "carbon now (kgCO2/kWh)" in dashboard.text_of("#map-legend")
    assert not dashboard.driver.execute_script(
        "return window.Plotly !== undefined || performance.getEntriesByType('resource')"
        ".some(e => e.name.includes('plotly'))"
    ), "the map page loaded plotly.js"
    dashboard.shot("map-world")
    choose(dashboard, "#max-latency", "15")
    choose(dashboard, "#color-by", "utilization")
    choose(dashboard, "#map-view", "china")


def test_web_a_map_marker_is_reached_from_the_keyboard_shows_its_numbers_and_opens_its_site(
    served: Served, dashboard: Dashboard
) -> None:
    dashboard.login(served.tokens["operator"])

    # keys go to whatever has the focus (ActionChains): a live update redraws the map and
    # gives the focus back to the same marker, so an element found before may be gone
    def press(key: str) -> None:
        ActionChains(dashboard.driver).send_keys(key).perform()

    dashboard.find("#max-latency").click()
    focused = ""
    for _ in range(20):  # from the controls, Tab to the markers
        press(Keys.TAB)
        focused = dashboard.driver.execute_script("return document.activeElement.dataset.site")
        if focused == "guian":
            break
    assert focused == "guian", "Tab never reached the guian marker"
    tip = dashboard.text_of("#map-tip")
    assert "Gui'an cluster" in tip and "yuan/kWh" in tip and "kgCO2/kWh" in tip, tip
    dashboard.shot("map-focus")
    before = dashboard.renders()
    press(Keys.ENTER)
    dashboard.wait(
        lambda d: dashboard.renders() > before and dashboard.page() == "sites",
        "Enter on a marker to open its site",
    )
    assert dashboard.text_of("#site-title") == "Gui'an cluster (guian)"


def test_web_a_job_submitted_through_the_api_appears_and_changes_state_without_a_reload(
    served: Served, dashboard: Dashboard
) -> None:
    dashboard.login(served.tokens["operator"])
    dashboard.go("#/jobs")
    dashboard.driver.execute_script("window.notReloaded = true")
    with served.client("tenant") as c:
        job_id = submit(
            c,
            name="watch-me",
            durationHours=2,
            accelerators={"count": 1, "types": ["A800", "Ascend910B", "A100"]},
        )
    link = f"#jobs-table-slot a[href='#/jobs/{job_id}']"
    dashboard.wait(lambda d: d.find_elements(By.CSS_SELECTOR, link), "the new job in the list")
    seen = set()
    badge = f"tr:has(a[href='#/jobs/{job_id}']) .badge"

    def state_is(target: str) -> bool:
        seen.add(dashboard.text_of(badge))
        return target in seen

    dashboard.wait(lambda d: state_is("running"), "the job to show as running")
    dashboard.shot("jobs")
    dashboard.wait(lambda d: state_is("succeeded"), "the job to show as succeeded", timeout=60)
    assert dashboard.driver.execute_script("return window.notReloaded") is True
    assert {"running", "succeeded"} <= seen

    dashboard.find(link).click()
    dashboard.wait(
        lambda d: dashboard.page() == "jobs" and d.find_elements(By.ID, "explanation"),
        "the job page",
    )
    explanation = dashboard.text_of("#explanation")
    assert "nearest" in explanation and "runs where its data lives" in explanation
    events = dashboard.text()
    for step in ("queued", "admitted", "running", "succeeded"):
        assert step in events
    dashboard.shot("job-detail")


def test_web_a_job_page_follows_the_job_live(served: Served, dashboard: Dashboard) -> None:
    dashboard.login(served.tokens["tenant"])
    with served.client("tenant") as c:
        job_id = submit(
            c,
            name="follow-me",
            durationHours=1,
            accelerators={"count": 1, "types": ["A800", "Ascend910B", "A100"]},
        )
    dashboard.go(f"#/jobs/{job_id}")
    states = set()

    def ended() -> bool:
        states.add(dashboard.text_of("#job-state"))
        return "succeeded" in states

    dashboard.wait(lambda d: ended(), "the job page to show the end", timeout=60)
    assert "running" in states or "admitted" in states or "queued" in states


def test_web_a_regulator_approves_a_pending_job(served: Served, dashboard: Dashboard) -> None:
    with served.client("tenant") as c:
        job_id = submit(
            c, name="core-model", data={"site": "guian", "sizeGB": 10, "classification": "core"}
        )
    assert job_state(served, job_id) == "pending-approval"
    dashboard.login(served.tokens["regulator"])
    nav = [a.text for a in dashboard.all("#nav a")]
    assert nav == ["Network map", "Approvals", "Ledger", "Simulation report"]
    dashboard.go("#/approvals")
    dashboard.wait(lambda d: d.find_elements(By.ID, f"approve-{job_id}"), "the pending job")
    dashboard.shot("approvals")
    dashboard.find(f"#reason-{job_id}").send_keys("core data stays in Guizhou: approved")
    dashboard.find(f"#approve-{job_id}").click()
    dashboard.wait(
        lambda d: "approved, now queued" in dashboard.text_of("#decision-result"), "the decision"
    )
    assert job_state(served, job_id) != "pending-approval"
    with served.client("operator") as c:
        events = c.get(f"/v1/jobs/{job_id}/events").json()
    assert any(e["reason"].endswith(": core data stays in Guizhou: approved") for e in events)


def test_web_the_approvals_page_says_when_more_jobs_wait_than_it_lists(
    served: Served, dashboard: Dashboard
) -> None:
    core = {"site": "guian", "sizeGB": 1, "classification": "core"}
    with served.client("other") as c:
        ids = [submit(c, name=f"wait-{i}", data=core) for i in range(101)]
    dashboard.login(served.tokens["regulator"])
    dashboard.go("#/approvals")
    listed = [
        b.get_attribute("id").removeprefix("approve-") for b in dashboard.all("[id^=approve-]")
    ]
    assert len(listed) == 100
    assert ids[0] in listed and ids[-1] not in listed  # the oldest first
    assert "The 100 oldest of more than 100 waiting" in dashboard.text_of("#approvals-slot caption")
    with served.client("regulator") as c:
        for job_id in ids:
            r = c.post(f"/v1/approvals/{job_id}", json={"decision": "deny", "reason": "test"})
            assert r.status_code == 200, r.text
    dashboard.wait(
        lambda d: (
            "Pending, oldest first" in dashboard.text_of("#approvals-slot caption")
            or "No jobs are waiting" in dashboard.text_of("#approvals-slot")
        ),
        "the live update to drop the denied jobs",
    )


def test_web_a_regulator_verifies_a_ledger_entry_in_the_browser(
    served: Served, dashboard: Dashboard
) -> None:
    dashboard.login(served.tokens["regulator"])
    with served.client("regulator") as c:
        dashboard.wait(
            lambda d: c.get("/v1/audit/head").json()["treeSize"] > 3, "entries to be sealed"
        )
    dashboard.go("#/ledger")
    buttons = dashboard.all("#entries-slot button")
    assert buttons
    seq = buttons[-1].get_attribute("id").removeprefix("verify-")
    buttons[-1].click()
    result = dashboard.wait(lambda d: d.find_elements(By.ID, "verify-result"), "the verification")[
        0
    ]
    assert result.text.startswith(f"Verified in this browser: entry {seq} "), result.text
    signature = dashboard.driver.find_element(By.ID, "head-signature").text
    assert signature.startswith("valid: Ed25519"), signature
    dashboard.shot("ledger")


def test_web_the_browser_accepts_the_services_signed_head_and_refuses_a_changed_one(
    served: Served, dashboard: Dashboard
) -> None:
    if dashboard.page() in ("", "login"):
        dashboard.login(served.tokens["regulator"])
    with served.client("regulator") as c:
        head = c.get("/v1/audit/head").json()
    script = (
        "const [head, done] = arguments;"
        "import('/ui/merkle.js').then(m => m.verifyHeadSignature(head))"
        ".then(done, e => done('error: ' + e.message));"
    )
    run = dashboard.driver.execute_async_script
    assert run(script, head) is True
    assert run(script, {**head, "treeSize": head["treeSize"] + 1}) is False
    assert run(script, {**head, "root": "00" * 32}) is False


def test_web_the_browser_follows_the_key_history_and_refuses_a_retired_key(
    served: Served, dashboard: Dashboard
) -> None:
    from dataclasses import replace

    from suanli.ledger import KeyHistory, Ledger, SigningKey, key_id
    from suanli.ledger.ledger import signed_message

    if dashboard.page() in ("", "login"):
        dashboard.login(served.tokens["regulator"])
    keys = [SigningKey.from_seed(bytes([i]) * 32) for i in (1, 2, 3)]
    ledger = Ledger(keys[0])
    for i in range(12):
        ledger.append("admission", float(i), {"job": f"j{i}"})
    history = KeyHistory.first(keys[0].public_key)
    history = history.rotate(keys[0], keys[1], 4, ledger.root(4), "r1")
    history = history.rotate(keys[1], keys[2], 8, ledger.root(8), "r2")

    def head(signer: SigningKey, size: int, named: bool = True) -> dict[str, object]:
        root = ledger.root(size)
        doc: dict[str, object] = {
            "treeSize": size,
            "root": root.hex(),
            "time": "t",
            "format": "suanli-ledger-head/1",
            "signature": signer.sign(signed_message(size, root, "t")).hex(),
            "publicKey": signer.public_key.hex(),
        }
        if named:
            doc["keyId"] = key_id(signer.public_key)
        return doc

    script = (
        "const [head, keys, done] = arguments;"
        "import('/ui/merkle.js').then(m => m.verifyHeadWithHistory(head, keys))"
        ".then(r => done(r.valid ? 'valid' : r.why), e => done('error: ' + e.message));"
    )
    run = dashboard.driver.execute_async_script
    doc = history.to_json()
    for signer, size in [(0, 2), (0, 4), (1, 4), (1, 8), (2, 8), (2, 12)]:
        assert run(script, head(keys[signer], size), doc) == "valid", (signer, size)
    assert run(script, head(keys[0], 3, named=False), doc) == "valid"
    assert "retired at tree size 4" in run(script, head(keys[0], 5), doc)
    assert "retired at tree size 8" in run(script, head(keys[1], 12), doc)
    assert "before key" in run(script, head(keys[2], 7), doc)
    assert "does not verify" in run(
        script, {**head(keys[2], 12), "keyId": key_id(keys[1].public_key)}, doc
    )
    # an endorsement signed by a key not in the chain
    forged = SigningKey.from_seed(bytes([9]) * 32)
    other = KeyHistory.first(forged.public_key).rotate(forged, keys[2], 8, ledger.root(8), "r2")
    e = other.keys[1].endorsement
    assert e is not None
    spliced = KeyHistory(
        (
            *history.keys[:2],
            replace(
                history.keys[2], endorsement=replace(e, previous_key_id=history.keys[1].key_id)
            ),
        )
    )
    out = run(script, head(keys[2], 12), spliced.to_json())
    assert out.startswith("error: keys[2]") and "does not verify with the key before" in out, out
    # the page shows the first key of the history, to compare out of band
    dashboard.go("#/ledger")
    first = dashboard.wait(lambda d: d.find_elements(By.ID, "first-key"), "the first key")[0]
    with served.client("regulator") as c:
        assert first.text == c.get("/v1/audit/keys").json()["keys"][0]["publicKey"]


@pytest.mark.parametrize("size", [1, 2, 5, 13, 64])
def test_web_the_browsers_proof_check_agrees_with_the_python_one_and_refuses_a_forgery(
    served: Served, dashboard: Dashboard, size: int
) -> None:
    from suanli.ledger.merkle import MerkleTree

    if dashboard.page() in ("", "login"):
        dashboard.login(served.tokens["regulator"])
    tree = MerkleTree()
    for i in range(size):
        tree.append(f"entry {i}".encode())
    script = (
        "const [i, n, leaf, path, done] = arguments;"
        "import('/ui/merkle.js').then(m => m.rootFromInclusion(i, n, leaf, path))"
        ".then(done, e => done('error: ' + e.message));"
    )
    for index in {0, size // 2, size - 1}:
        path = [h.hex() for h in tree.inclusion_proof(index, size)]
        leaf = tree.leaf(index).hex()
        root = dashboard.driver.execute_async_script(script, index, size, leaf, path)
        assert root == tree.root(size).hex()
        forged = "00" * 32
        assert dashboard.driver.execute_async_script(script, index, size, forged, path) != root
        if path:
            short = dashboard.driver.execute_async_script(script, index, size, leaf, path[:-1])
            assert short != root


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param(
            "const p = m.fitProjection([[100, 20], [140, 50]], 800, 400, 0);"
            "return [p([100, 35]), p([140, 35]), p([120, 50]), p([120, 20])]"
            ".map(([x, y]) => [Math.round(x), Math.round(y)]);",
            [[182, 200], [618, 200], [400, 0], [400, 400]],
            id="the box fills the frame's height, centred, with x shrunk by cos(35 degrees)",
        ),
        pytest.param(
            "return m.unwrap([[178, -17], [-179, -17], [-178, -16], [179, -16]]);",
            [[178, -17], [181, -17], [182, -16], [179, -16]],
            id="a ring across the antimeridian stays in one piece",
        ),
        pytest.param(
            "return [m.colorAt('YlOrRd', 0), m.colorAt('YlOrRd', 1), m.colorAt('YlOrRd', 7),"
            " m.colorAt('YlOrRd', NaN)];",
            ["rgb(255,255,204)", "rgb(128,0,38)", "rgb(128,0,38)", "rgb(255,255,204)"],
            id="colours at the ends of the scale, and outside it",
        ),
        pytest.param(
            "return m.placeLabels([{x: 100, y: 50, r: 5, text: 'aaaa'},"
            " {x: 125, y: 50, r: 5, text: 'bbbb'}, {x: 395, y: 50, r: 5, text: 'cccc'}], 400, 100)"
            ".map((s) => s.anchor);",
            ["end", "start", "end"],
            id="labels avoid markers, each other and the frame's edge",
        ),
    ],
)
def test_web_the_maps_projection_colours_and_labels(
    served: Served, dashboard: Dashboard, script: str, expected: object
) -> None:
    if dashboard.page() in ("", "login"):
        dashboard.login(served.tokens["operator"])
    got = dashboard.driver.execute_async_script(
        "const done = arguments[0];"
        f"import('/ui/map.js').then(m => {{ {script} }}).then(done, e => done('error: ' + e));"
    )
    assert got == expected


def test_web_a_tenant_cannot_see_another_tenants_job(served: Served, dashboard: Dashboard) -> None:
    with served.client("other") as c:
        theirs = submit(c, name="hospital-model")
    with served.client("tenant") as c:
        mine = submit(c, name="bank-model")
    dashboard.login(served.tokens["tenant"])
    assert [a.text for a in dashboard.all("#nav a")] == [
        "Network map",
        "Queues and tenants",
        "Jobs",
        "Simulation report",
    ]
    dashboard.go("#/jobs")
    listed = {a.text for a in dashboard.all("#jobs-table-slot a.mono")}
    assert mine in listed and theirs not in listed
    dashboard.go(f"#/jobs/{theirs}")
    assert "Not found" in dashboard.find("[role=alert]").text
    assert "hospital-model" not in dashboard.text()
    dashboard.shot("tenant-other-job")
    dashboard.go("#/queues")
    rows = dashboard.all("#queue-tenants tbody tr")
    assert [r.find_element(By.CSS_SELECTOR, ".mono").text for r in rows] == ["fin-bank"]


def test_web_the_site_page_draws_utilization_fragmentation_price_and_carbon(
    served: Served, dashboard: Dashboard
) -> None:
    dashboard.login(served.tokens["operator"])
    dashboard.go("#/sites/guian")
    for chart in ("util-chart", "price-chart", "carbon-chart"):
        n = dashboard.wait(
            lambda d, c=chart: d.execute_script(
                "const c = document.getElementById(arguments[0]);"
                "return c && c.data ? c.data[0].x.length : 0",
                c,
            ),
            f"the {chart}",
        )
        assert n >= 24
    assert "H800" in dashboard.text()  # the pools table
    assert "the scenario's series (china-edwc)" in dashboard.text()  # where prices come from
    dashboard.shot("site")


def test_web_the_site_page_shows_the_source_of_an_attached_series(
    served: Served, dashboard: Dashboard
) -> None:
    site = {
        "id": "web-energy",
        "name": "partner with a tariff",
        "hub": "hk",
        "jurisdiction": "HK",
        "lat": 22.3,
        "lon": 114.2,
        "pue": 1.3,
        "pools": [{"accelerator": "H100", "nodes": 1, "perNode": 8}],
        "priceYuanPerKwh": 0.9,
        "carbonKgPerKwh": 0.6,
    }
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0).isoformat()
    energy = {
        "priceYuanPerKwh": {
            "start": start,
            "values": [1.5] * 12 + [0.3] * 12,
            "source": "HK partner tariff 2026",
        },
    }
    with served.client("operator") as c:
        assert c.post("/v1/sites", json=site).status_code == 201
        assert c.put("/v1/sites/web-energy/energy", json=energy).status_code == 200
    dashboard.login(served.tokens["operator"])
    dashboard.go("#/sites/web-energy")
    text = dashboard.wait(
        lambda d: "HK partner tariff 2026" in dashboard.text() and dashboard.text(),
        "the attached series' source",
    )
    assert "hourly series attached, 24 h" in text
    assert "flat figure given at registration" in text  # carbon: no series attached


def test_web_the_queues_page_shows_every_tenant_to_the_operator(
    served: Served, dashboard: Dashboard
) -> None:
    dashboard.login(served.tokens["operator"])
    dashboard.go("#/queues")
    with served.client("operator") as c:
        tenants = {t["id"] for t in c.get("/v1/tenants").json()}
    rows = dashboard.all("#queue-tenants tbody tr")
    shown = {r.find_element(By.CSS_SELECTOR, ".mono").text for r in rows}
    assert shown == tenants
    dashboard.shot("queues")


def cells(dashboard: Dashboard, css: str) -> list[list[str]]:
    """The text of each cell of each body row of the table under ``css``."""
    rows = dashboard.all(f"{css} tbody tr")
    return [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]


def test_web_the_queues_page_shows_the_policy_and_the_limits_and_classes_set_by_the_api(
    served: Served, dashboard: Dashboard
) -> None:
    limits = {
        "accelerators": {"A100": 16},
        "borrowingLimit": {"A100": 4},
        "lendingLimit": {"A100": 8},
        "cohort": "web-finance",
    }
    klass = {"name": "web-urgent", "value": 700, "description": "on-call fixes"}
    with served.client("operator") as c:
        seeded = c.get("/v1/tenants/fin-bank/quota").json()
        cohort = {"description": "banks lend to banks"}
        assert c.put("/v1/cohorts/web-finance", json=cohort).status_code == 201
        assert c.put("/v1/tenants/fin-bank/quota", json=limits).status_code == 200
        assert c.post("/v1/priority-classes", json=klass).status_code == 201
    try:
        dashboard.login(served.tokens["operator"])
        dashboard.go("#/queues")
        dashboard.wait(lambda d: "web-urgent" in dashboard.text_of("#queue-classes"), "the class")
        assert dashboard.text_of("#queue-policy") == "nearest"  # what `suanli serve` runs
        assert dashboard.text_of("#queue-scope").startswith("network: quota keys are TYPE")
        assert "no: a placement policy" in dashboard.text_of("#queue-config")
        assert ["web-urgent", "700", "PreemptLowerPriority", "no", "on-call fixes"] in cells(
            dashboard, "#queue-classes"
        )
        assert cells(dashboard, "#queue-limits") == [["fin-bank", "A100", "16", "4", "8"]]
        assert ["web-finance", "–", "fin-bank", "banks lend to banks"] in cells(
            dashboard, "#queue-cohorts"
        )
        queues = {
            r.find_element(By.CSS_SELECTOR, ".mono").text: r.find_element(
                By.CSS_SELECTOR, ".cohort"
            ).text
            for r in dashboard.all("#queue-tenants tbody tr")
        }
        assert queues["fin-bank"] == "web-finance" and queues["health-hospitals"] == "network"
        assert dashboard.text_of("#queue-preemptions") == "No preemptions."
        captions = [c.text for c in dashboard.all("#queue-limits caption, #queue-classes caption")]
        assert [c.split(":")[0].split(",")[0] for c in captions] == [
            "Borrowing and lending limits per flavor",
            "Priority classes",
        ]
        dashboard.shot("queues-configuration")
        dashboard.login(served.tokens["other"])  # another tenant: not the bank's limits
        dashboard.go("#/queues")
        assert "No borrowing or lending limits" in dashboard.text_of("#queue-limits")
        assert "web-urgent" in dashboard.text_of("#queue-classes")  # classes are for all
    finally:
        with served.client("operator") as c:
            assert c.put("/v1/tenants/fin-bank/quota", json=seeded).status_code == 200
            assert c.delete("/v1/priority-classes/web-urgent").status_code in (200, 204)
            assert c.delete("/v1/cohorts/web-finance").status_code == 204


def test_web_the_queues_page_lists_a_reclaim_with_the_job_it_made_room_for(
    queueing_served: Served, dashboard: Dashboard
) -> None:
    served = queueing_served
    v100 = {
        "accelerators": {"count": 8, "types": ["V100"]},
        "data": {"site": "br-sp", "sizeGB": 0, "classification": "general"},
        "deadline": None,
    }
    with served.client("operator") as c:
        for tenant in ("fin-bank", "health-hospitals"):
            body = {"accelerators": {"V100": 8}}
            assert c.put(f"/v1/tenants/{tenant}/quota", json=body).status_code == 200
        bank = [submit(c, name=f"bank-{i}", tenant="fin-bank", **v100) for i in (1, 2)]
        wait_for(lambda: all(job_state(served, j) == "running" for j in bank), 20)
        hospital = submit(c, name="hospital-1", tenant="health-hospitals", **v100)
        wait_for(lambda: c.get("/v1/queues").json()["preemptions"], 20)
        (preempted,) = c.get("/v1/queues").json()["preemptions"]
    assert preempted["jobId"] in bank and hospital in preempted["reason"]
    board = Dashboard(dashboard.driver, served.url)  # the same browser, this server's origin
    board.login(served.tokens["operator"])
    board.go("#/queues")
    assert board.text_of("#queue-policy") == "kueue"
    assert "yes: a multi-tenant queueing policy" in board.text_of("#queue-config")
    assert board.text_of("#queue-preemptions caption") == "Preemptions, newest first"
    ((at, job, tenant, reason, lost),) = cells(board, "#queue-preemptions")
    assert at and job == f"{preempted['jobName']} {preempted['jobId']}"
    assert (tenant, reason) == ("fin-bank", preempted["reason"])
    assert lost == f"{preempted['lostGpuH']:,.1f}"
    board.shot("queues-preemption")


def test_web_the_report_page_shows_a_simulation_report_from_disk(
    served: Served, dashboard: Dashboard, report_file: Path
) -> None:
    dashboard.login(served.tokens["operator"])
    dashboard.go("#/report")
    assert "No report loaded" in dashboard.text()
    dashboard.find("#report-file").send_keys(str(report_file))
    frame = dashboard.wait(
        lambda d: d.find_elements(By.CSS_SELECTOR, "iframe.report"), "the report"
    )[0]
    dashboard.driver.switch_to.frame(frame)
    try:
        dashboard.wait(
            lambda d: "Suanli simulation" in d.find_element(By.TAG_NAME, "h1").text,
            "the report's title",
        )
    finally:
        dashboard.driver.switch_to.default_content()
    time.sleep(0.5)  # let Plotly draw inside the frame for the screenshot
    dashboard.shot("report")


def test_web_the_pages_work_from_the_keyboard_and_in_a_narrow_window(
    served: Served, dashboard: Dashboard
) -> None:
    dashboard.login(served.tokens["operator"])
    active = dashboard.driver.switch_to
    assert active.active_element.get_attribute("id") == "main"  # focus moves to the content
    jobs = None
    for _ in range(12):  # back from the content, through the header, to the page links
        active.active_element.send_keys(Keys.SHIFT, Keys.TAB)
        if active.active_element.text == "Jobs":
            jobs = active.active_element
            break
    assert jobs is not None, "Shift+Tab never reached the Jobs link"
    before = dashboard.renders()
    jobs.send_keys(Keys.ENTER)
    dashboard.wait(
        lambda d: dashboard.renders() > before and dashboard.page() == "jobs", "Enter to open Jobs"
    )
    dashboard.driver.set_window_size(400, 900)
    try:
        dashboard.go("#/map")
        width = dashboard.driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400, f"the page is {width} px wide in a 400 px window"
        shown = dashboard.driver.execute_script(
            "const r = document.querySelector('#map-chart svg').getBoundingClientRect();"
            "return [r.left, r.right]"
        )
        assert 0 <= shown[0] < shown[1] <= 400, f"the map spans {shown} px in a 400 px window"
        assert set(map_markers(dashboard)) >= {"guian", "zhangjiakou", "shaoguan"}
        dashboard.shot("map-narrow")
    finally:
        dashboard.driver.set_window_size(1280, 900)


def test_web_a_link_to_a_page_asks_for_a_token_first_and_then_opens_that_page(
    served: Served, dashboard: Dashboard
) -> None:
    driver = dashboard.driver
    driver.get(f"{served.url}/ui/#/login")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{served.url}/ui/#/queues")
    dashboard.wait(lambda d: dashboard.page() == "login", "the login screen")
    dashboard.find("#token").send_keys(served.tokens["tenant"])
    dashboard.find("form button[type=submit]").click()
    dashboard.wait(lambda d: dashboard.page() == "queues", "the page the link named")
    assert "fin-bank" in dashboard.text()


@pytest.mark.parametrize(
    ("filters", "shown"),
    [
        pytest.param("name=no-such-job", "No jobs match these filters.", id="empty"),
        pytest.param(
            "name=not%20a%20name", "Invalid request: query.name:", id="refused by the API"
        ),
    ],
)
def test_web_the_jobs_page_says_when_nothing_matches_and_when_a_filter_is_refused(
    served: Served, dashboard: Dashboard, filters: str, shown: str
) -> None:
    if dashboard.page() in ("", "login") or "operator" not in dashboard.text_of("#who"):
        dashboard.login(served.tokens["operator"])
    dashboard.go(f"#/jobs?{filters}")
    assert shown in dashboard.text_of("#jobs-table-slot")
    assert dashboard.all("#f-name"), "the filter form stays, to correct the filter"
    dashboard.shot(f"jobs-{filters.split('=')[1].replace('%20', '-')}")
