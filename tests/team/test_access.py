"""Model access: tiers and single models, shown with the reason in the studio, refused at submit."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from studio.models import AuditAction, AuditEvent, Job, Membership, ModelAccessRule
from studio.services import jobs
from studio.services import team as team_services
from studio.services.errors import ModelNotAllowed, PermissionDenied
from studio.services.team.access import model_block_reason

pytestmark = pytest.mark.django_db


def fresh(membership: Membership) -> Membership:
    # Rules are cached per membership object (one request), like Django's permission cache.
    return Membership.objects.select_related("team", "user").get(pk=membership.pk)


@pytest.fixture
def ultra(make_model):
    return make_model("big-one", tier="ultra", credits_per_image=120)


@pytest.fixture
def ultra_two(make_model):
    return make_model("big-two", tier="ultra", credits_per_image=110)


def test_blocking_a_tier_blocks_its_models_with_a_clear_reason(admin_member, designer, ultra, ai_model):
    team_services.set_tier_access(actor=admin_member, tier="ultra", blocked=True)
    member = fresh(designer)
    assert model_block_reason(membership=member, model=ultra) == "Blocked by your team: the ultra tier is not allowed."
    assert model_block_reason(membership=member, model=ai_model) == ""
    with pytest.raises(ModelNotAllowed, match="the ultra tier is not allowed") as caught:
        jobs.validate_job(membership=member, model="big-one", prompt="nope")
    assert caught.value.code == "model_not_allowed"
    assert not Job.objects.exists()


def test_a_model_rule_beats_its_tier(admin_member, designer, ultra, ultra_two):
    team_services.set_tier_access(actor=admin_member, tier="ultra", blocked=True)
    team_services.set_model_access(actor=admin_member, model=ultra, setting="allow")
    member = fresh(designer)
    assert model_block_reason(membership=member, model=ultra) == ""
    assert "ultra tier" in model_block_reason(membership=member, model=ultra_two)
    team_services.set_model_access(actor=admin_member, model=ultra, setting="block")
    team_services.set_tier_access(actor=admin_member, tier="ultra", blocked=False)
    member = fresh(designer)
    assert model_block_reason(membership=member, model=ultra) == "Blocked by your team: this model is not allowed."
    assert model_block_reason(membership=member, model=ultra_two) == ""
    team_services.set_model_access(actor=admin_member, model=ultra, setting="inherit")
    assert model_block_reason(membership=fresh(designer), model=ultra) == ""
    assert not ModelAccessRule.objects.exists()
    actions = list(AuditEvent.objects.order_by("id").values_list("action", "before__access", "after__access"))
    assert actions == [
        (AuditAction.TIER_ACCESS, "allowed", "blocked"),
        (AuditAction.MODEL_ACCESS, "inherit", "allow"),
        (AuditAction.MODEL_ACCESS, "allow", "block"),
        (AuditAction.TIER_ACCESS, "blocked", "allowed"),
        (AuditAction.MODEL_ACCESS, "block", "inherit"),
    ]


def test_rules_of_one_team_do_not_touch_another(admin_member, outsider, ultra):
    team_services.set_tier_access(actor=admin_member, tier="ultra", blocked=True)
    assert model_block_reason(membership=fresh(outsider), model=ultra) == ""


def test_blocked_models_show_in_the_studio_menu_with_the_reason(admin_client_, admin_member, designer_client, ultra, ai_model):
    admin_client_.post(reverse("team:access_tier"), {"tier": "ultra", "access": "block"})
    html = designer_client.get(reverse("studio:home")).content.decode()
    option = html.split('value="big-one"', 1)[1].split("</option>", 1)[0]
    assert "disabled" in option and "Blocked by your team: the ultra tier is not allowed." in option


def test_submit_of_a_blocked_model_is_refused_in_the_studio(admin_member, designer_client, ultra):
    team_services.set_model_access(actor=admin_member, model=ultra, setting="block")
    response = designer_client.post(reverse("studio:home"), {"model": "big-one", "prompt": "a storm"})
    assert response.status_code == 400
    assert "Blocked by your team: this model is not allowed." in response.content.decode()
    assert not Job.objects.exists()


def test_access_page_shows_status_and_bad_posts_are_refused(admin_client_, ultra):
    page = admin_client_.get(reverse("team:access")).content.decode()
    # One table: a select per tier and per model, one Save (issue 15).
    assert 'name="tier_ultra"' in page and 'name="model_big-one"' in page and page.count('type="submit"') == 1
    for data in ({"tier": "mega", "access": "block"}, {"tier": "ultra", "access": "maybe"}):
        assert admin_client_.post(reverse("team:access_tier"), data).status_code == 400
    for data in ({"model": "no-such-model", "access": "block"}, {"model": "big-one", "access": "sometimes"}):
        assert admin_client_.post(reverse("team:access_model"), data).status_code == 400
    assert not ModelAccessRule.objects.exists()
    response = admin_client_.post(reverse("team:access_tier"), {"tier": "ultra", "access": "block"}, HTTP_HX_REQUEST="true")
    panel = response.content.decode()
    ultra_select = panel.split('name="tier_ultra"', 1)[1].split("</select>", 1)[0]
    assert response.status_code == 200 and '<option value="block" selected>Blocked</option>' in ultra_select


def test_only_managers_change_access(designer, viewer, ultra):
    for actor in (designer, viewer):
        with pytest.raises(PermissionDenied):
            team_services.set_tier_access(actor=actor, tier="ultra", blocked=True)
        with pytest.raises(PermissionDenied):
            team_services.set_model_access(actor=actor, model=ultra, setting="block")
    assert not ModelAccessRule.objects.exists()


def test_the_menu_reads_rules_once(designer, make_model, django_assert_max_num_queries, admin_member):
    from studio.services.composer import build_menu

    for i in range(15):
        make_model(f"m{i}", tier="ultra" if i % 2 else "standard")
    team_services.set_tier_access(actor=admin_member, tier="ultra", blocked=True)
    member = fresh(designer)
    build_menu(membership=member)  # warm
    member = fresh(designer)
    with django_assert_max_num_queries(6):
        build_menu(membership=member)


def test_access_table_saves_every_setting_at_once_or_nothing(admin_client_, admin_member, ultra, ai_model):
    bad = {"tier_ultra": "block", "model_big-one": "allow", "model_test-model": "sometimes"}
    response = admin_client_.post(reverse("team:access"), bad)
    assert response.status_code == 400 and "always allowed or blocked for Test Model" in response.content.decode()
    assert not ModelAccessRule.objects.exists()  # one bad value: nothing stored
    good = {"tier_ultra": "block", "tier_standard": "allow", "model_big-one": "allow", "model_test-model": "inherit"}
    response = admin_client_.post(reverse("team:access"), good, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Saved: 2 settings changed." in response.content.decode()
    rules = {(r.tier, r.catalog_model_id, r.effect) for r in ModelAccessRule.objects.all()}
    assert rules == {("ultra", None, "block"), ("", ultra.pk, "allow")}
    assert model_block_reason(membership=fresh(admin_member), model=ultra) == ""
    again = admin_client_.post(reverse("team:access"), good)
    assert again.status_code == 302 and ModelAccessRule.objects.count() == 2


def test_the_member_concurrency_cap_is_set_on_the_members_page_checked_and_audited(admin_client_, admin_member, designer):
    url = reverse("team:member_concurrency")
    page = admin_client_.get(reverse("team:members")).content.decode()
    assert f'action="{url}"' in page and 'placeholder="no cap"' in page and "Now: no cap" in page

    assert admin_client_.post(url, {"max_running_per_member": "8"}).status_code == 302
    fresh_admin = fresh(admin_member)
    assert fresh_admin.team.max_running_per_member == 8
    event = AuditEvent.objects.get(action=AuditAction.CONCURRENCY_CAP)
    assert (event.before, event.after) == ({"max_running_per_member": "no cap"}, {"max_running_per_member": 8})
    assert "Now: 8 at once" in admin_client_.get(reverse("team:members")).content.decode()

    for bad, message in (("65", "from 1 to 64"), ("-1", "from 1 to 64"), ("eight", "whole number")):
        response = admin_client_.post(url, {"max_running_per_member": bad})
        assert response.status_code == 400 and message in response.content.decode()
        # htmx swaps only 2xx answers: the panel comes back as a 200 that shows the error.
        panel = admin_client_.post(url, {"max_running_per_member": bad}, HTTP_HX_REQUEST="true").content.decode()
        assert 'id="concurrency-panel"' in panel and "<html" not in panel
        assert 'role="alert"' in panel and message in panel
    assert fresh(admin_member).team.max_running_per_member == 8

    panel = admin_client_.post(url, {"max_running_per_member": ""}, HTTP_HX_REQUEST="true").content.decode()
    assert "No cap" in panel and "Now: no cap" in panel and fresh(admin_member).team.max_running_per_member == 0
    assert AuditEvent.objects.filter(action=AuditAction.CONCURRENCY_CAP).count() == 2
    # Saving the same value again writes nothing to the trail.
    admin_client_.post(url, {"max_running_per_member": ""})
    assert AuditEvent.objects.filter(action=AuditAction.CONCURRENCY_CAP).count() == 2

    with pytest.raises(PermissionDenied):
        team_services.set_member_concurrency_cap(actor=designer, cap=2)
    designer_client = Client()
    designer_client.force_login(designer.user)
    assert designer_client.post(url, {"max_running_per_member": "2"}).status_code == 403
    assert fresh(admin_member).team.max_running_per_member == 0
