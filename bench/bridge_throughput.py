"""Matrix bridge: throughput and added latency, CoCare -> a Matrix client's /sync.

Starts, all on loopback: Synapse (``.synapse-venv``, SQLite), Daphne serving our appservice
endpoint, and ``manage.py run_workers bridge`` (the production shape of the outbound
path). A linked nurse's matrix-nio client long-polls ``/sync``.

- **latency**: ``-n`` CoCare messages, one at a time (open loop, ``--interval`` apart);
  from the write-path commit to the nurse's ``/sync`` receiving it. The **reference** is
  the same nurse receiving a message another Matrix user sends straight to Synapse
  (client API, same room): the bridge's *added* latency is the difference.
- **throughput**: a burst of ``--burst`` CoCare messages committed at once; messages per
  second until the last one reached the nurse, in order and without duplicates.
- **many rooms**: ``--rooms`` team rooms (default 20), each bridged and joined by the
  nurse; ``--per-room`` messages per room committed at once, interleaved across the rooms;
  per message, commit → the nurse's ``/sync`` (p50/p99), messages per second overall, and
  per-room order without duplicates. ``--rooms 0`` skips it.

Prints JSON and rewrites the "Matrix bridge" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time

from harness import (
    PY,
    ROOT,
    VAR,
    Server,
    cocare_env,
    free_port,
    latency_summary,
    loadavg,
    machine,
    migrate,
    provenance,
    sqlite_url,
    update_section,
)

sys.path.insert(0, str(ROOT))
AS_TOKEN = "bench-as-token-" + "a" * 20
HS_TOKEN = "bench-hs-token-" + "h" * 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=60, help="latency samples")
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--burst", type=int, default=300)
    ap.add_argument("--rooms", type=int, default=20, help="rooms at once (0: skip)")
    ap.add_argument("--per-room", type=int, default=15, help="messages per room")
    ap.add_argument("--no-doc", action="store_true")
    args = ap.parse_args()

    from tests.support.synapse import SERVER_NAME, Synapse

    work = VAR / "bridge"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = sqlite_url("bridge")
    for suffix in ("", "-wal", "-shm"):
        p = VAR / f"bridge.sqlite3{suffix}"
        if p.exists():
            p.unlink()
    as_port, hs_port = free_port(), free_port()
    synapse = Synapse(
        data_dir=work / "synapse", port=hs_port, registration_file=work / "registration.yaml"
    )
    env = cocare_env(
        db,
        False,
        COCARE_MATRIX_HOMESERVER_URL=synapse.url,
        COCARE_MATRIX_SERVER_NAME=SERVER_NAME,
        COCARE_MATRIX_AS_TOKEN=AS_TOKEN,
        COCARE_MATRIX_HS_TOKEN=HS_TOKEN,
        COCARE_WORKER_POLL_SECONDS="0.05",
        COCARE_MATRIX_APPSERVICE_URL=f"http://127.0.0.1:{as_port}",
    )
    load_before = loadavg()
    migrate(env)
    subprocess.run(
        [PY, "manage.py", "matrix_registration", "-o", str(synapse.registration_file)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith(("COCARE_", "DJANGO"))})
    import django

    django.setup()
    from bridge.models import BridgedRoom, OutboxEntry
    from rooms.messages import check_post_message
    from rooms.models import Room
    from rooms.network import do_add_member, do_create_service_user
    from tests.support.cast import build_cast

    appservice = Server(
        "bridge-appservice", [PY, "manage.py", "serve", "--port", str(as_port)], as_port, env
    ).start()
    worker = Server("bridge-worker", [PY, "manage.py", "run_workers", "bridge"], 0, env)
    try:
        synapse.start()
        cast = build_cast()
        nurse_id, nurse_token = synapse.register_user("nadia")
        peer_id, peer_token = synapse.register_user("peer")
        cast.nadia.matrix_id = nurse_id
        cast.nadia.save()
        cast.tom.matrix_id = peer_id
        cast.tom.save()
        worker.start()
        check_post_message(person=cast.anna, room_id=cast.team.id, body="warm-up")
        result = asyncio.run(
            measure(
                args,
                synapse,
                cast,
                nurse_id,
                nurse_token,
                peer_id,
                peer_token,
                check_post_message,
                BridgedRoom,
                OutboxEntry,
            )
        )
        if args.rooms:
            rooms = [cast.team] + [
                extra_team_room(cast, i, Room, do_create_service_user, do_add_member)
                for i in range(1, args.rooms)
            ]
            result["rooms"] = asyncio.run(
                measure_rooms(
                    args,
                    synapse,
                    cast,
                    rooms,
                    nurse_id,
                    nurse_token,
                    check_post_message,
                    BridgedRoom,
                )
            )
    finally:
        worker.stop()
        appservice.stop()
        synapse.stop()
    result["load_before"] = load_before
    result["load_after"] = loadavg()
    print(json.dumps({"benchmark": "bridge_throughput", **result}, indent=2))
    if not args.no_doc:
        write_doc(args, result)


async def measure(
    args, synapse, cast, nurse_id, nurse_token, peer_id, peer_token, post, BridgedRoom, OutboxEntry
) -> dict:
    from nio import AsyncClient, SyncResponse

    nurse = AsyncClient(synapse.url, nurse_id)
    nurse.access_token, nurse.user_id = nurse_token, nurse_id
    peer = AsyncClient(synapse.url, peer_id)
    peer.access_token, peer.user_id = peer_token, peer_id
    room_id = None
    deadline = time.monotonic() + 60
    while room_id is None and time.monotonic() < deadline:
        r = await nurse.sync(timeout=500)
        if isinstance(r, SyncResponse) and r.rooms.invite:
            room_id = next(iter(r.rooms.invite))
    assert room_id, "nurse was never invited"
    await nurse.join(room_id)
    # The reference peer is Tom (physio, linked too): the bridge invites him as well.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = await peer.sync(timeout=500)
        if isinstance(r, SyncResponse) and room_id in r.rooms.invite:
            break
    await peer.join(room_id)
    await nurse.sync(timeout=0)

    received: dict[str, float] = {}
    order: list[str] = []
    stop = asyncio.Event()

    async def sync_loop():
        while not stop.is_set():
            r = await nurse.sync(timeout=1000)
            t = time.perf_counter()
            if isinstance(r, SyncResponse) and room_id in r.rooms.join:
                for ev in r.rooms.join[room_id].timeline.events:
                    body = ev.source.get("content", {}).get("body", "")
                    if body.startswith(("lat-", "ref-", "burst-")):
                        received.setdefault(body, t)
                        order.append(body)

    syncer = asyncio.create_task(sync_loop())

    async def wait_for(bodies, timeout=120):
        end = time.monotonic() + timeout
        while not all(b in received for b in bodies) and time.monotonic() < end:
            await asyncio.sleep(0.01)

    sent: dict[str, float] = {}
    # Reference: straight to Synapse.
    for i in range(args.n):
        body = f"ref-{i}"
        sent[body] = time.perf_counter()
        await peer.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
        await asyncio.sleep(args.interval)
    # Through the bridge: CoCare write path -> log -> outbox -> sender -> Synapse.
    for i in range(args.n):
        body = f"lat-{i}"
        await asyncio.to_thread(_post_timed, post, cast, body, sent)
        await asyncio.sleep(args.interval)
    await wait_for([f"lat-{i}" for i in range(args.n)] + [f"ref-{i}" for i in range(args.n)])
    ref = [received[f"ref-{i}"] - sent[f"ref-{i}"] for i in range(args.n) if f"ref-{i}" in received]
    lat = [received[f"lat-{i}"] - sent[f"lat-{i}"] for i in range(args.n) if f"lat-{i}" in received]

    # Throughput: a burst committed as fast as the write path allows.
    burst = [f"burst-{i:04}" for i in range(args.burst)]
    t0 = time.perf_counter()
    await asyncio.to_thread(
        lambda: [post(person=cast.anna, room_id=cast.team.id, body=b) for b in burst]
    )
    t_committed = time.perf_counter()
    await wait_for(burst, timeout=300)
    t_last = max(received.get(b, 0) for b in burst)
    stop.set()
    await syncer
    await nurse.close()
    await peer.close()
    got = [b for b in order if b.startswith("burst-")]
    return {
        "latency_samples": len(lat),
        "bridge_ms": latency_summary(lat),
        "reference_synapse_ms": latency_summary(ref),
        "burst": args.burst,
        "burst_received": len(set(got)),
        "burst_in_order_no_duplicates": got == burst,
        "burst_commit_s": round(t_committed - t0, 2),
        "burst_total_s": round(t_last - t0, 2),
        "throughput_msgs_per_s": round(args.burst / (t_last - t0), 1) if t_last > t0 else None,
    }


def extra_team_room(cast, i, Room, create, add):
    """Another service user of the same provider: Anna writes, Nadia reads (linked)."""
    su = create(
        full_name=f"Bench Person {i:02}",
        provider=cast.provider,
        council=cast.council,
        created_by=cast.carol,
    )
    room = Room.objects.get(service_user=su, kind="professional")
    for p in (cast.carol, cast.anna, cast.nadia):
        add(room, p, by=cast.carol, notify=False)
    return room


async def measure_rooms(
    args, synapse, cast, rooms, nurse_id, nurse_token, post, BridgedRoom
) -> dict:
    """``args.per_room`` messages in each of ``rooms``, committed at once, interleaved."""
    from nio import AsyncClient, SyncResponse

    nurse = AsyncClient(synapse.url, nurse_id)
    nurse.access_token, nurse.user_id = nurse_token, nurse_id
    # Bridge every room (created on its first entry) and have the nurse join them all.
    await asyncio.to_thread(
        lambda: [post(person=cast.anna, room_id=r.id, body="open") for r in rooms]
    )
    wanted: dict[str, int] = {}
    deadline = time.monotonic() + 300
    while len(wanted) < len(rooms) and time.monotonic() < deadline:
        wanted = await asyncio.to_thread(
            lambda: dict(
                BridgedRoom.objects.filter(room__in=rooms).values_list("matrix_room_id", "room_id")
            )
        )
        await asyncio.sleep(0.1)
    joined: set[str] = set()
    while joined != set(wanted) and time.monotonic() < deadline:
        await nurse.sync(timeout=500)
        for room_id in set(nurse.invited_rooms) & set(wanted):
            await nurse.join(room_id)
        joined = set(nurse.rooms) & set(wanted)  # the first room was joined before
    assert joined == set(wanted), f"joined {len(joined)}/{len(rooms)} rooms"
    await nurse.sync(timeout=0)

    received: dict[str, float] = {}
    order: dict[int, list[str]] = {}
    stop = asyncio.Event()

    async def sync_loop():
        while not stop.is_set():
            r = await nurse.sync(timeout=1000)
            t = time.perf_counter()
            if not isinstance(r, SyncResponse):
                continue
            for room_id, info in r.rooms.join.items():
                for ev in info.timeline.events:
                    body = ev.source.get("content", {}).get("body", "")
                    if body.startswith("multi-"):
                        received.setdefault(body, t)
                        order.setdefault(wanted.get(room_id, -1), []).append(body)

    syncer = asyncio.create_task(sync_loop())
    plan = [(room.id, f"multi-{room.id}-{i:03}") for i in range(args.per_room) for room in rooms]
    sent: dict[str, float] = {}

    def burst():
        for room_id, body in plan:
            post(person=cast.anna, room_id=room_id, body=body)
            sent[body] = time.perf_counter()

    t0 = time.perf_counter()
    await asyncio.to_thread(burst)
    t_committed = time.perf_counter()
    end = time.monotonic() + 600
    while len(received) < len(plan) and time.monotonic() < end:
        await asyncio.sleep(0.01)
    stop.set()
    await syncer
    await nurse.close()
    lat = [received[b] - sent[b] for _, b in plan if b in received]
    t_last = max(received.values(), default=t0)
    in_order = all(order.get(room.id, []) == [b for r, b in plan if r == room.id] for room in rooms)
    return {
        "rooms": len(rooms),
        "per_room": args.per_room,
        "messages": len(plan),
        "received": len(set(received) & set(sent)),
        "in_order_per_room_no_duplicates": in_order,
        "commit_s": round(t_committed - t0, 2),
        "total_s": round(t_last - t0, 2),
        "throughput_msgs_per_s": round(len(plan) / (t_last - t0), 1) if t_last > t0 else None,
        "latency_ms": latency_summary(lat),
    }


def _post_timed(post, cast, body, sent):
    sent[body] = time.perf_counter()
    post(person=cast.anna, room_id=cast.team.id, body=body)


def row(name: str, v: dict) -> str:
    return f"| {name} | {v['n']} | {v['p50_ms']} | {v['p95_ms']} | {v['p99_ms']} | {v['max_ms']} |"


def many_rooms_doc(m: dict | None) -> str:
    if not m:
        return ""
    lat = m["latency_ms"]

    def pct(ms: float) -> str:
        return f"{100 * ms / 1000 / m['total_s']:.0f} %" if m["total_s"] else "-"

    return f"""
Many rooms at once: {m["per_room"]} messages in each of **{m["rooms"]} rooms** ({m["messages"]}
in all, interleaved across the rooms, committed in {m["commit_s"]} s) reached the nurse's
client in {m["total_s"]} s: **{m["throughput_msgs_per_s"]} messages/s** (received
{m["received"]}/{m["messages"]}, each room in order and without duplicates:
{m["in_order_per_room_no_duplicates"]}). Commit → Matrix client, per message:

| path | messages | p50 ms | p95 ms | p99 ms | max ms |
|---|---|---|---|---|---|
{row(f"CoCare → bridge → Matrix client, {m['rooms']} rooms at once", lat)}

The one sender takes the rooms one after another in each pass (up to 200 entries of a
room, then the next), strictly in order within each room, so a burst over many rooms
drains at about the one-room rate and a message waits for the ones queued ahead of it:
here p50 was {pct(lat["p50_ms"])} and p99 {pct(lat["p99_ms"])} of the burst's
{m["total_s"]} s drain time.
"""


def write_doc(args, r: dict) -> None:
    b, ref = r["bridge_ms"], r["reference_synapse_ms"]
    cmd = (
        "./dev bench bridge_throughput"
        + (f" -n {args.n}" if args.n != 60 else "")
        + (f" --burst {args.burst}" if args.burst != 300 else "")
        + (f" --rooms {args.rooms}" if args.rooms != 20 else "")
        + (f" --per-room {args.per_room}" if args.per_room != 15 else "")
    )
    load, cores = r["load_before"], machine()["nproc"] or 1
    busy = (
        f"\n\n**The machine was busy** (load {load[0]} on {cores} cores before the run, "
        f"{r['load_after'][0]} after; other work was running): re-measure on a quiet "
        "machine before comparing these figures."
        if max(load[0], r["load_after"][0]) > cores / 2
        else ""
    )
    update_section(
        "Matrix bridge",
        f"""
{provenance(cmd, load)}{busy}

Outbound path: CoCare write path → log → outbox consumer → sender (`run_workers bridge`,
one process, polling every 50 ms when no poke arrives: the in-memory layer cannot poke
across processes) → Synapse (SQLite) → the nurse's matrix-nio `/sync`. Reference: the same
nurse receiving a message another (linked) Matrix user sends straight to Synapse.

| path | samples | p50 ms | p95 ms | p99 ms | max ms |
|---|---|---|---|---|---|
{row("CoCare → bridge → Matrix client", b)}
{row("Matrix user → Synapse → Matrix client (reference)", ref)}

Added latency of the bridge (p50): **{round(b.get("p50_ms", 0) - ref.get("p50_ms", 0), 1)} ms**.

Throughput: a burst of {r["burst"]} CoCare messages (committed in {r["burst_commit_s"]} s)
reached the Matrix client in {r["burst_total_s"]} s: **{r["throughput_msgs_per_s"]} messages/s**
(received {r["burst_received"]}/{r["burst"]}, in order and without duplicates:
{r["burst_in_order_no_duplicates"]}). The sender keeps strict per-room
order, so a room's messages go out one request at a time (one Synapse
`PUT /send` each, as the puppet, with its deterministic txn id).
{many_rooms_doc(r.get("rooms"))}""",
    )


if __name__ == "__main__":
    main()
