"""Question selection: the screener first, never more than three, follow-ups and staleness."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from bots.questionbank import ROTATION_DOMAINS, load_bank
from bots.selection import MAX_PER_VISIT, Asked, GoalRef, candidates, is_follow_up, select_questions

BANK = load_bank()
T = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
GOALS = [GoalRef(id=1, text="Walk to the shop once a week"), GoalRef(id=2, text="Bake a cake")]


def pool_keys(goals):
    return [p.ask_key for p in candidates(BANK, goals)]


@st.composite
def situations(draw):
    goals = draw(st.lists(st.sampled_from(GOALS), unique=True, max_size=2))
    keys = pool_keys(goals) + [BANK.screener.key]
    history = {}
    for k in draw(st.lists(st.sampled_from(keys), unique=True)):
        history[k] = Asked(
            last_asked=T - dt.timedelta(hours=draw(st.integers(1, 24 * 400))),
            scores=draw(st.lists(st.integers(0, 4), max_size=2)),
        )
    limit = draw(st.integers(0, 6))
    return history, goals, limit


@settings(max_examples=300, deadline=None)
@given(situations())
def test_never_more_than_three_screener_first_distinct_domains(sit):
    history, goals, limit = sit
    picks = select_questions(BANK, history, goals, limit=limit)
    assert len(picks) <= MAX_PER_VISIT
    assert len(picks) == min(limit, MAX_PER_VISIT)
    if picks:
        assert picks[0].question_key == BANK.screener.key
    others = picks[1:]
    assert len({p.domain for p in others}) == len(others)
    assert all(p.domain in ROTATION_DOMAINS for p in others)
    assert len({p.ask_key for p in picks}) == len(picks)
    if not goals:
        assert all(p.domain != "personal_goals" for p in picks)


@settings(max_examples=300, deadline=None)
@given(situations())
def test_follow_ups_come_first_and_the_rest_are_the_stalest_domains(sit):
    history, goals, _ = sit
    picks = select_questions(BANK, history, goals)
    pool = candidates(BANK, goals)
    follow = [p for p in pool if is_follow_up(BANK.get(p.question_key), history.get(p.ask_key))]
    chosen = picks[1:]
    n_follow = sum(p.follow_up for p in chosen)
    # as many follow-ups as slots and distinct domains allow
    assert n_follow == min(2, len({p.domain for p in follow}))
    assert all(not p.follow_up for p in chosen[n_follow:])

    never = dt.datetime.min.replace(tzinfo=dt.UTC)

    def last(key):
        return history[key].last_asked if key in history else never

    domain_last = {}
    for p in pool:
        domain_last[p.domain] = max(domain_last.get(p.domain, never), last(p.ask_key))
    used = {p.domain for p in chosen if p.follow_up}
    for p in chosen[n_follow:]:
        # no domain left out was staler than one that was chosen
        left_out = [d for d in domain_last if d not in used and d not in {c.domain for c in chosen}]
        assert all(domain_last[d] >= domain_last[p.domain] for d in left_out)
        # and within the domain, the least recently asked question was chosen
        same = [x for x in pool if x.domain == p.domain]
        assert last(p.ask_key) == min(last(x.ask_key) for x in same)


def test_a_worse_answer_last_time_is_asked_again():
    history = {
        "mobility_falls": Asked(last_asked=T - dt.timedelta(days=1), scores=[2, 0]),
        # care experience asked long ago: stalest
        "visit_experience": Asked(last_asked=T - dt.timedelta(days=300), scores=[0]),
    }
    picks = select_questions(BANK, history, [])
    assert [p.ask_key for p in picks][:2] == ["different_from_usual", "mobility_falls"]
    assert picks[1].follow_up


def test_domains_rotate_over_successive_visits():
    history: dict[str, Asked] = {}
    seen = []
    now = T
    for _ in range(6):
        picks = select_questions(BANK, history, GOALS[:1])
        seen.append({p.domain for p in picks[1:]})
        for p in picks:
            history[p.ask_key] = Asked(last_asked=now, scores=[0])
        now += dt.timedelta(days=1)
    # two visits cover all four domains
    assert seen[0] | seen[1] == set(ROTATION_DOMAINS)
    assert seen[0].isdisjoint(seen[1])
