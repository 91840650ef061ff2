"""The sandbox's seed data: deterministic, unique and consistent."""

from __future__ import annotations

from sandbox.ghl.seed import seed_location


def test_the_same_inputs_give_the_same_location() -> None:
    assert seed_location("loc_demo") == seed_location("loc_demo")
    assert seed_location("loc_demo", seed=1) != seed_location("loc_demo")


def test_locations_do_not_share_ids() -> None:
    first, second = seed_location("loc_a"), seed_location("loc_b")

    assert not {t.id for t in first.tags} & {t.id for t in second.tags}
    assert not {a.id for a in first.accounts} & {a.id for a in second.accounts}
    profiles = [a.profile_id for a in (*first.accounts, *second.accounts) if a.profile_id]
    assert len(set(profiles)) == len(profiles) == 10


def test_tag_names_and_ids_stay_unique_past_the_name_combinations() -> None:
    location = seed_location("loc_big", tag_count=700)

    assert len({tag.name for tag in location.tags}) == 700
    assert len({tag.id for tag in location.tags}) == 700


def test_posts_carry_tags_of_their_location_and_accounts_with_a_profile() -> None:
    location = seed_location("loc_demo")

    assert [post.id for post in location.posts] == [f"post_demo_{n}" for n in range(1, 6)]
    for post in location.posts:
        assert all(location.tag(tag_id) is not None for tag_id in post.tag_ids)
        assert post.account.profile_id is not None
        assert location.post(post.id) is post


def test_a_location_without_tags_has_posts_without_tags() -> None:
    location = seed_location("loc_empty", tag_count=0)

    assert location.tags == ()
    assert all(post.tag_ids == () for post in location.posts)
