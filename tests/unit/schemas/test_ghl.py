from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from marshmallow import ValidationError

from schemas.ghl import (
    Account,
    Post,
    Statistics,
    Tag,
    TagsPage,
    load_accounts,
    load_post,
    load_statistics,
    load_tag_details,
    load_tags_page,
    merge_statistics,
)
from tests.openapi_validation import SpecValidator
from tests.unit.ghl.fake_ghl import ACCOUNTS, POST, statistics_results, tag_json


def envelope(results: Any) -> dict[str, Any]:
    return {"success": True, "statusCode": 200, "message": "ok", "results": results}


def spec_example(version: str, status: str) -> dict[str, Any]:
    """The example answer of the statistics operation, straight from the official file."""
    operation = SpecValidator.for_version(version).data["paths"]["/social-media-posting/statistics"]
    schema = operation["post"]["responses"][status]["content"]["application/json"]["schema"]
    example: dict[str, Any] = schema["example"]
    return example


# -- tags -------------------------------------------------------------------------------------


def test_tags_page() -> None:
    body = envelope({"tags": [tag_json(1), tag_json(2)], "count": 250})

    page = load_tags_page(body)

    assert page == TagsPage(
        tags=(Tag("tag_001", "Tag 1", raw={}), Tag("tag_002", "Tag 2", raw={})), count=250
    )
    assert page.tags[0].raw is body["results"]["tags"][0]


def test_tags_keep_unknown_fields_in_raw_only() -> None:
    tag = {**tag_json(1), "color": "#ff0000"}

    (loaded,) = load_tag_details(envelope({"tags": [tag]}))

    assert loaded.raw["color"] == "#ff0000"
    assert not hasattr(loaded, "color")


def test_a_tag_without_a_name_gets_an_empty_one() -> None:
    (loaded,) = load_tag_details(envelope({"tags": [{"_id": "t1"}]}))

    assert loaded.name == ""


def test_tags_without_count() -> None:
    assert load_tags_page(envelope({"tags": []})).count is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (envelope({"tags": [{"tag": "no id"}]}), "_id"),
        (envelope({"tags": [{"_id": ""}]}), "_id"),
        (envelope({"tags": [{"_id": 5}]}), "_id"),
        (envelope({}), "tags"),
        ({"success": True}, "results"),
    ],
)
def test_tags_refuse_a_body_without_what_we_need(body: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_tags_page(body)

    assert field in str(caught.value.messages)


def test_a_body_that_is_not_an_object() -> None:
    with pytest.raises(ValidationError, match="Invalid input type"):
        load_tags_page(["not", "an", "object"])


# -- accounts and posts -----------------------------------------------------------------------


def test_accounts() -> None:
    accounts = load_accounts(envelope({"accounts": ACCOUNTS, "groups": []}))

    assert accounts[0] == Account("acc_fb", "prof_fb", "facebook", "Facebook Page", raw={})
    assert accounts[2].profile_id is None
    assert accounts[2].raw is ACCOUNTS[2]


@pytest.mark.parametrize("profile_id", ["", None])
def test_an_empty_profile_id_is_none(profile_id: str | None) -> None:
    (account,) = load_accounts(envelope({"accounts": [{"id": "a", "profileId": profile_id}]}))

    assert account.profile_id is None
    assert (account.platform, account.name) == ("", "")


def test_post() -> None:
    post = load_post(envelope({"post": POST}))

    assert post == Post("post_1", ("tag_001", "tag_002"), raw={})
    assert post.raw is POST


def test_post_as_ghl_really_sends_it() -> None:
    # GHL sends `type` and `status` as strings although the spec types them as objects.
    post = load_post(envelope({"post": {**POST, "type": "post", "status": "published"}}))

    assert post.raw["status"] == "published"


@pytest.mark.parametrize("tags", [None, []])
def test_post_without_tags(tags: list[str] | None) -> None:
    post = {**POST, "tags": tags}

    assert load_post(envelope({"post": post})).tag_ids == ()


def test_post_missing_id() -> None:
    with pytest.raises(ValidationError, match="_id"):
        load_post(envelope({"post": {"tags": []}}))


def test_dataclasses_are_frozen_and_hashable() -> None:
    tag = Tag("t", "n", raw={"_id": "t"})

    with pytest.raises(AttributeError):
        tag.name = "other"  # type: ignore[misc]
    assert {tag, Tag("t", "n", raw={})} == {tag}


# -- statistics -------------------------------------------------------------------------------


def test_statistics() -> None:
    body = {"results": statistics_results(), "message": "ok", "traceId": "t"}

    stats = load_statistics(body)

    assert stats.day_range == ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    assert stats.totals == {
        "posts": 5,
        "likes": 30,
        "followers": 1000,
        "impressions": 700,
        "comments": 7,
    }
    assert stats.platforms == {
        "facebook": {
            "posts": 3,
            "impressions": 400,
            "reach": 300,
            "likes": 20,
            "comments": 4,
            "shares": 2,
        },
        "instagram": {
            "posts": 2,
            "impressions": 300,
            "reach": 200,
            "likes": 10,
            "comments": 3,
            "shares": 0,
        },
    }
    assert stats.daily == {
        "posts": [1, 1, 1, 0, 1, 0, 1],
        "impressions": [100] * 7,
        "likes": [5, 5, 5, 5, 5, 5, 0],
        "comments": [1] * 7,
    }
    assert stats.raw is body["results"]


@pytest.mark.parametrize(("version", "status"), [("2021-07-28", "201"), ("v3", "200")])
def test_statistics_of_the_official_example(version: str, status: str) -> None:
    stats = load_statistics(spec_example(version, status))

    assert stats.day_range == ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    assert stats.totals["followers"] == 0


def test_statistics_of_the_v1_example_in_detail() -> None:
    stats = load_statistics(spec_example("2021-07-28", "201"))

    assert stats.platforms == {
        "google": {
            "posts": 0,
            "impressions": 0,
            "reach": 0,
            "likes": 0,
            "comments": 0,
            "shares": 0,
        }
    }
    assert stats.daily["posts"] == [0] * 7


def test_statistics_with_little_data() -> None:
    stats = load_statistics(
        {"results": {"dayRange": ["Mon", "Tue"], "postPerformance": {"posts": {}}}}
    )

    assert stats == Statistics(("Mon", "Tue"), {}, {}, {"posts": [0, 0]}, raw={})


def test_statistics_drop_null_totals_and_values() -> None:
    results = statistics_results()
    results["totals"]["followers"] = None
    results["breakdowns"]["reach"]["platforms"]["facebook"]["value"] = None

    stats = load_statistics({"results": results})

    assert "followers" not in stats.totals
    assert "reach" not in stats.platforms["facebook"]


def _types(value: Any) -> Any:
    """The same shape with every number replaced by its type."""
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value)


def test_statistics_keep_integers_as_integers() -> None:
    stats = load_statistics({"results": statistics_results()})
    merged = merge_statistics([stats, stats])

    for loaded in (stats, merged):
        numbers = [loaded.totals, loaded.platforms, loaded.daily]
        assert "float" not in repr(_types(numbers)), _types(numbers)
    assert merged.totals["comments"] == 14
    assert repr(merged.totals["comments"]) == "14"


def test_statistics_keep_fractions_as_fractions() -> None:
    results = statistics_results()
    results["totals"]["likes"] = 30.5

    stats = load_statistics({"results": results})

    assert stats.totals["likes"] == 30.5
    assert merge_statistics([stats, stats]).totals["likes"] == 61.0


@pytest.mark.parametrize(("sent", "loaded"), [("12", 12), ("1.5", 1.5), (" 7 ", 7)])
def test_statistics_read_numeric_strings_as_numbers(sent: str, loaded: float) -> None:
    results = statistics_results()
    results["totals"]["likes"] = sent

    stats = load_statistics({"results": results})

    assert stats.totals["likes"] == loaded
    assert type(stats.totals["likes"]) is type(loaded)


@pytest.mark.parametrize(
    "value", ["many", True, "NaN", "Infinity", float("inf"), [1], {}, "[" * 1000, "1" * 5000]
)
def test_statistics_refuse_non_numbers(value: Any) -> None:
    results = statistics_results()
    results["totals"]["likes"] = value

    with pytest.raises(ValidationError) as caught:
        load_statistics({"results": results})

    assert caught.value.messages == {
        "results": {"totals": {"likes": {"value": ["Not a valid number."]}}}
    }


def test_statistics_need_results() -> None:
    with pytest.raises(ValidationError, match="results"):
        load_statistics({"message": "Analytics Built Successfully"})


# -- merging batches --------------------------------------------------------------------------


def test_threads_sharing_the_schemas_each_get_their_own_answer() -> None:
    # One schema instance per answer serves every task thread of a worker.
    bodies = [{"results": statistics_results(n)} for n in range(1, 9)]
    expected = [load_statistics(copy.deepcopy(body)) for body in bodies]

    def load_many(index: int) -> list[Statistics]:
        return [load_statistics(copy.deepcopy(bodies[index])) for _ in range(20)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(load_many, range(len(bodies))))

    assert results == [[stats] * 20 for stats in expected]
    assert len({stats.totals["likes"] for stats in expected}) == len(bodies)


def test_merge_statistics_adds_everything_up() -> None:
    one = load_statistics({"results": statistics_results(1)})
    two = load_statistics({"results": statistics_results(2)})
    three = load_statistics({"results": statistics_results(3)})

    merged = merge_statistics([one, two])

    assert merged == three
    assert merged.raw == {"batches": [one.raw, two.raw]}


def test_merge_statistics_of_different_platforms_and_lengths() -> None:
    a = Statistics(("Mon",), {"posts": 1}, {"facebook": {"posts": 1}}, {"posts": [1]}, raw={})
    b = Statistics(
        ("Mon", "Tue"),
        {"posts": 2, "likes": 4},
        {"instagram": {"posts": 2}, "facebook": {"likes": 3}},
        {"posts": [1, 1], "likes": [2, 2]},
        raw={},
    )

    merged = merge_statistics([a, b])

    assert merged.day_range == ("Mon", "Tue")
    assert merged.totals == {"posts": 3, "likes": 4}
    assert merged.platforms == {"facebook": {"posts": 1, "likes": 3}, "instagram": {"posts": 2}}
    assert merged.daily == {"posts": [2, 1], "likes": [2, 2]}


def test_merge_does_not_change_its_parts() -> None:
    one = load_statistics({"results": statistics_results(1)})
    before = copy.deepcopy((one.totals, one.platforms, one.daily))

    merge_statistics([one, one])

    assert (one.totals, one.platforms, one.daily) == before


def test_merge_of_one_part_is_that_part() -> None:
    one = load_statistics({"results": statistics_results(1)})

    assert merge_statistics([one]) is one


def test_merge_of_nothing_is_empty() -> None:
    assert merge_statistics([]) == Statistics((), {}, {}, {}, raw={})
