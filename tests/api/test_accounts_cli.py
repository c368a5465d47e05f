"""`weike orgs import` and `weike users …`: the county's tree from a CSV, and accounts made, listed, given a new
password and disabled from the command line; what the CLI makes works through the API."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlmodel import select
from typer.testing import CliRunner, Result

import api.cli
from api.app import create_app
from api.cli import cli
from catalog.db import unit_of_work
from catalog.lessons import LessonFields, create_lesson, get_lesson, lesson_facts
from catalog.models import Account, Organisation
from tests.support.stacks import build_embedded, settings_env
from workers.settings import Settings, get_settings
from workers.wiring import context_for

PASSWORD = "村里的-Password-2026"
ENGLISH = "township,branch,type\n东风镇,东风村党支部,村\n东风镇,渔港社区党支部,社区\n西岭乡,海上党支部,海上\n"
CHINESE = "乡镇,支部,类型\n西岭乡,西岭村党支部,村\n东风镇,东风村党支部,村\n"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The embedded shape in a temporary data dir; the CLI finds it through WEIKE_* (get_settings is cached, so
    the cache is cleared around every invocation)."""
    import os

    for name in [n for n in os.environ if n.startswith("WEIKE_")]:
        monkeypatch.delenv(name)
    built: Settings = build_embedded(tmp_path / "var")
    for name, value in settings_env(built).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(api.cli, "console", Console(width=200))  # no wrapping of Chinese messages
    get_settings.cache_clear()
    yield built
    get_settings.cache_clear()


def weike(*args: str | Path, stdin: str | None = None) -> Result:
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, [str(a) for a in args], input=stdin)
    finally:
        get_settings.cache_clear()


def _text(result: Result) -> str:
    return result.output + (f"\n{result.exception!r}" if result.exception and result.exit_code != 1 else "")


def _tree(settings: Settings) -> dict[str, tuple[str, str | None, str | None]]:
    """name -> (kind, parent's name, branch type)."""
    with unit_of_work(context_for(settings).engine) as s:
        orgs = list(s.exec(select(Organisation)).all())
        names = {o.id: o.name for o in orgs}
        return {o.name: (o.kind, names.get(o.parent_id) if o.parent_id else None, o.branch_type) for o in orgs}


def test_orgs_import_reads_english_or_chinese_headers_and_importing_again_changes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    english = tmp_path / "orgs.csv"
    english.write_text(ENGLISH, encoding="utf-8")
    first = weike("orgs", "import", english)
    assert first.exit_code == 0, _text(first)
    assert "新建乡镇 2 个，新建支部 3 个" in first.output, first.output
    tree = _tree(settings)
    assert tree["本县"] == ("county", None, None)
    assert tree["东风镇"] == ("township", "本县", None) and tree["西岭乡"] == ("township", "本县", None)
    assert tree["东风村党支部"] == ("branch", "东风镇", "村")
    assert tree["渔港社区党支部"] == ("branch", "东风镇", "社区")
    assert tree["海上党支部"] == ("branch", "西岭乡", "海上")

    again = weike("orgs", "import", english)
    assert again.exit_code == 0 and "没有变化" in again.output, _text(again)
    assert _tree(settings) == tree

    chinese = tmp_path / "组织架构.csv"
    chinese.write_text(CHINESE, encoding="utf-8-sig")  # as Excel saves it
    added = weike("orgs", "import", chinese)
    assert added.exit_code == 0 and "新建乡镇 0 个，新建支部 1 个" in added.output, _text(added)
    assert _tree(settings) == {**tree, "西岭村党支部": ("branch", "西岭乡", "村")}
    assert "没有变化" in weike("orgs", "import", chinese).output


def test_a_branch_named_by_an_earlier_upload_moves_under_its_township(settings: Settings, tmp_path: Path) -> None:
    with unit_of_work(context_for(settings).engine) as s:
        lesson = create_lesson(s, fields=LessonFields(title="田间讲党课", branch="东风村党支部"),
                               original_key="originals/x", original_sha256=hashlib.sha256(b"x").hexdigest(),
                               size_bytes=1, original_filename="课.mp4")
        lesson_id, branch_id = lesson.id, lesson.branch_id
    assert _tree(settings)["东风村党支部"] == ("branch", "本县", None)  # waiting under the county

    csv_file = tmp_path / "orgs.csv"
    csv_file.write_text(ENGLISH, encoding="utf-8")
    result = weike("orgs", "import", csv_file)
    assert result.exit_code == 0 and "新建支部 2 个" in result.output and "移入乡镇 1 个" in result.output, _text(
        result)
    assert _tree(settings)["东风村党支部"] == ("branch", "东风镇", "村")
    with unit_of_work(context_for(settings).engine) as s:
        found = get_lesson(s, lesson_id)
        assert found is not None and found.branch_id == branch_id  # the same branch, now in its township
        township = s.exec(select(Organisation).where(Organisation.name == "东风镇")).one()
        assert lesson_facts(s, found).township_id == township.id  # 东风镇's organisers now see it
        branches = s.exec(select(Organisation).where(Organisation.name == "东风村党支部")).all()
        assert len(branches) == 1


@pytest.mark.parametrize(("content", "fragment"), [
    ("name,place\n东风镇,东风村党支部\n", "表头应为"),
    ("township,branch,type\n东风镇,东风村党支部,合作社\n", "第 2 行的支部类型“合作社”无法识别"),
    ("乡镇,支部\n,东风村党支部\n", "第 2 行没有填写乡镇"),
])
def test_a_bad_org_file_is_refused_in_chinese_and_nothing_is_imported(
    settings: Settings, tmp_path: Path, content: str, fragment: str
) -> None:
    csv_file = tmp_path / "orgs.csv"
    csv_file.write_text(content, encoding="utf-8")
    result = weike("orgs", "import", csv_file)
    assert result.exit_code == 1 and fragment in result.output, _text(result)
    assert not {kind for kind, _, _ in _tree(settings).values()} & {"township", "branch"}
    missing = weike("orgs", "import", tmp_path / "nope.csv")
    assert missing.exit_code == 1 and "无法读取" in missing.output, _text(missing)


def test_a_table_saved_as_gbk_is_refused_with_advice_not_a_traceback(settings: Settings, tmp_path: Path) -> None:
    """Excel on Chinese Windows saves "CSV" in GBK unless told "CSV UTF-8"."""
    gbk = tmp_path / "组织架构.csv"
    gbk.write_bytes(CHINESE.encode("gbk"))
    result = weike("orgs", "import", gbk)
    assert result.exit_code == 1 and "不是 UTF-8 编码" in result.output and "CSV UTF-8" in result.output, _text(result)
    assert not isinstance(result.exception, UnicodeDecodeError)
    assert "东风镇" not in _tree(settings)
    lessons = weike("import", tmp_path / "nothing-here", "--csv", gbk)  # the lesson table: the same advice
    assert lessons.exit_code == 1 and "不是 UTF-8 编码" in lessons.output, _text(lessons)


def _import_county(tmp_path: Path) -> None:
    csv_file = tmp_path / "orgs.csv"
    csv_file.write_text(ENGLISH + "西岭乡,西岭村党支部,村\n", encoding="utf-8")
    assert weike("orgs", "import", csv_file).exit_code == 0


def _token(client: TestClient, username: str, password: str) -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_users_create_takes_the_password_on_stdin_and_the_account_logs_in(settings: Settings,
                                                                         tmp_path: Path) -> None:
    _import_county(tmp_path)
    made = weike("users", "create", "dongfeng", "--role", "uploader", "--org", "东风村党支部",
                 "--display-name", "李书记", stdin=PASSWORD + "\r\n")
    assert made.exit_code == 0 and "已创建账号 dongfeng" in made.output, _text(made)
    assert PASSWORD not in made.output
    organiser = weike("users", "create", "zhang", "--role", "organiser", "--org", "东风镇", stdin=PASSWORD + "\n")
    assert organiser.exit_code == 0, _text(organiser)
    reviewer = weike("users", "create", "xianli", "--role", "reviewer", stdin=PASSWORD + "\n")
    assert reviewer.exit_code == 0, _text(reviewer)

    with TestClient(create_app(settings)) as client:
        token = _token(client, "dongfeng", PASSWORD)
        assert token.status_code == 200, token.text
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}).json()
        assert (me["username"], me["role"], me["org"]["name"], me["display_name"]) == (
            "dongfeng", "uploader", "东风村党支部", "李书记")
        me = client.get("/api/v1/me", headers={
            "Authorization": f"Bearer {_token(client, 'zhang', PASSWORD).json()['access_token']}"}).json()
        assert (me["role"], me["org"]["name"]) == ("organiser", "东风镇")
    with unit_of_work(context_for(settings).engine) as s:
        account = s.exec(select(Account).where(Account.username == "dongfeng")).one()
        assert PASSWORD not in account.password_hash and account.password_hash.startswith("$argon2id$")


@pytest.mark.parametrize(("args", "fragment"), [
    (("--role", "uploader", "--org", "不存在的支部"), "找不到名为“不存在的支部”的支部"),
    (("--role", "uploader"), "请用 --org 指定所属支部"),
    (("--role", "organiser", "--org", "东风村党支部"), "找不到名为“东风村党支部”的乡镇"),
    (("--role", "reviewer", "--org", "东风镇"), "审核员和管理员不属于某个支部或乡镇"),
    (("--role", "mayor"), "角色只能是"),
])
def test_users_create_refuses_a_wrong_or_missing_org_in_chinese(settings: Settings, tmp_path: Path,
                                                               args: tuple[str, ...], fragment: str) -> None:
    _import_county(tmp_path)
    result = weike("users", "create", "dongfeng", *args, stdin=PASSWORD + "\n")
    assert result.exit_code == 1 and fragment in result.output, _text(result)
    with unit_of_work(context_for(settings).engine) as s:
        assert s.exec(select(Account)).first() is None


def test_users_create_refuses_a_short_password_and_a_taken_name(settings: Settings, tmp_path: Path) -> None:
    _import_county(tmp_path)
    short = weike("users", "create", "dongfeng", "--role", "uploader", "--org", "东风村党支部", stdin="1234\n")
    assert short.exit_code == 1 and "密码至少需要 8 个字符" in short.output, _text(short)
    assert weike("users", "create", "dongfeng", "--role", "reviewer", stdin=PASSWORD + "\n").exit_code == 0
    taken = weike("users", "create", "dongfeng", "--role", "admin", stdin=PASSWORD + "\n")
    assert taken.exit_code == 1 and "该用户名已被使用" in taken.output, _text(taken)


def test_users_list_set_password_and_disable(settings: Settings, tmp_path: Path) -> None:
    _import_county(tmp_path)
    for username, role, org in (("dongfeng", "uploader", "东风村党支部"), ("xianli", "reviewer", None)):
        args = ["users", "create", username, "--role", role] + (["--org", org] if org else [])
        assert weike(*args, stdin=PASSWORD + "\n").exit_code == 0
    listed = weike("users", "list")
    assert listed.exit_code == 0, _text(listed)
    rows = {name: next(line for line in listed.output.splitlines() if f" {name} " in line)
            for name in ("dongfeng", "xianli")}
    assert "支部上传员" in rows["dongfeng"] and "东风村党支部" in rows["dongfeng"] and "正常" in rows["dongfeng"]
    assert "县审核员" in rows["xianli"] and "正常" in rows["xianli"]

    new_password = "新的-Password-2027"
    with TestClient(create_app(settings)) as client:
        old = _token(client, "dongfeng", PASSWORD).json()["access_token"]
        changed = weike("users", "set-password", "dongfeng", stdin=new_password + "\n")
        assert changed.exit_code == 0 and "已修改密码 dongfeng" in changed.output, _text(changed)
        assert new_password not in changed.output
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"}).status_code == 401
        assert _token(client, "dongfeng", PASSWORD).status_code == 401
        fresh = _token(client, "dongfeng", new_password)
        assert fresh.status_code == 200
        token = fresh.json()["access_token"]

        disabled = weike("users", "disable", "dongfeng")
        assert disabled.exit_code == 0 and "已停用账号 dongfeng" in disabled.output, _text(disabled)
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert _token(client, "dongfeng", new_password).status_code == 401
        assert _token(client, "xianli", PASSWORD).status_code == 200  # the others go on
    listed = weike("users", "list")
    dongfeng = next(line for line in listed.output.splitlines() if " dongfeng " in line)
    assert "已停用" in dongfeng

    for command in ("set-password", "disable"):
        unknown = weike("users", command, "nobody", stdin=new_password + "\n")
        assert unknown.exit_code == 1 and "找不到该账号" in unknown.output, _text(unknown)


def test_passwords_get_the_standard_argon2id_parameters_outside_the_tests(tmp_path: Path) -> None:
    from argon2 import PasswordHasher, extract_parameters

    from catalog.accounts import hash_password, use_password_hashing

    assert Settings(data_dir=tmp_path).password_hashing == "standard"
    with pytest.raises(ValueError, match="standard Argon2id"):
        Settings(data_dir=tmp_path, environment="production", database_url="postgresql+psycopg://weike@db/weike",
                 secret_key="k" * 40, password_hashing="fast")
    try:
        use_password_hashing("standard")
        standard = extract_parameters(hash_password("一个足够长的密码"))
        use_password_hashing("fast")
        fast = extract_parameters(hash_password("一个足够长的密码"))
    finally:
        use_password_hashing("fast")  # what tests/conftest.py set for this process
    default = PasswordHasher()
    assert (standard.time_cost, standard.memory_cost, standard.parallelism) == (
        default.time_cost, default.memory_cost, default.parallelism)
    assert (fast.time_cost, fast.memory_cost) == (1, 64)
