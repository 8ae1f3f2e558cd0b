"""The launcher itself: one pinned moto, installed from one file and asserted at start,
and the forced page size."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import parse_qs

import emulator_pin
import pytest
from emulator_pin import INSTALL, Pin, mismatches, pins, report
from support import SCRIPTS, uid

INSTALLERS = ("test.sh", "local-cloud-deps.sh", "app-test-deps.sh")


def test_moto_is_pinned_once_to_an_exact_version():
    pinned = pins()
    assert [p.name for p in pinned].count("moto") == 1
    assert all(p.version[0].isdigit() for p in pinned), pinned


def test_every_installer_installs_the_pinned_file():
    for name in INSTALLERS:
        text = (SCRIPTS / name).read_text()
        assert "requirements-emulator.txt" in text, name
        assert "emulator_pin.py" in text, f"{name} installs only when the installed versions differ"
        assert "moto[server]" not in text, f"{name} installs an unpinned moto"
    assert "pip install" not in (SCRIPTS / "emulator.py").read_text(), "emulator.py asserts the pin, it does not install"
    # The demo and the local cloud install through local-cloud-deps.sh.
    for name in ("demo.sh", "local-cloud.sh"):
        assert "local-cloud-deps.sh" in (SCRIPTS / name).read_text(), name


def test_a_difference_names_both_versions_and_the_install_command():
    pinned = [Pin("moto", "5.2.1"), Pin("werkzeug", "3.1.8"), Pin("flask", "3.1.3")]
    installed = {"moto": "5.1.0", "werkzeug": "3.1.8"}
    problems = mismatches(pinned, installed.get)
    assert [p.name for p in problems] == ["moto", "flask"]
    text = report(problems)
    assert "moto 5.1.0 is installed, the emulator is pinned to moto 5.2.1" in text
    assert "flask is not installed, the emulator is pinned to flask 3.1.3" in text
    assert "werkzeug" not in text
    assert text.endswith(f"install the pinned versions with: {INSTALL}")


def test_a_requirement_that_is_not_an_exact_pin_is_refused(tmp_path):
    loose = tmp_path / "requirements.txt"
    loose.write_text("# comment\nmoto[server]>=5\n")
    with pytest.raises(ValueError, match="not an exact pin"):
        pins(loose)


def test_the_emulator_refuses_to_start_on_another_moto():
    # The emulator as it starts, except that the imported moto says it is another version.
    start = (
        "import runpy, sys; import moto; moto.__version__ = '0.0.1'; "
        f"sys.path.insert(0, {str(SCRIPTS)!r}); sys.argv = ['emulator.py', '--port', '0']; "
        f"runpy.run_path({str(SCRIPTS / 'emulator.py')!r}, run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", start], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "ready" not in done.stdout
    pinned = next(p.version for p in emulator_pin.pins() if p.name == "moto")
    assert f"moto 0.0.1 is installed, the emulator is pinned to moto {pinned}" in done.stderr
    assert INSTALL in done.stderr


def test_the_page_size_comes_from_the_environment_too(fresh_emulator):
    r53 = fresh_emulator(env={"MODU_EMULATOR_PAGE_SIZE": "1"}).client("route53")
    for n in range(2):
        r53.create_hosted_zone(Name=f"env{n}.example.com", CallerReference=f"env-{n}")
    first = r53.list_hosted_zones()
    assert len(first["HostedZones"]) == 1 and first["IsTruncated"] is True


def test_a_page_size_that_is_not_positive_is_refused():
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / "emulator.py"), "--port", "0", "--page-size", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "'0' is not a positive whole number" in done.stderr


def test_publishing_an_image_moves_the_public_al2023_parameter_to_a_new_ami(fresh_emulator):
    import urllib.request

    running = fresh_emulator()
    ssm, ec2 = running.client("ssm"), running.client("ec2")
    name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
    before = ssm.get_parameter(Name=name)["Parameter"]
    request = urllib.request.Request(f"{running.url}/_emulator/publish-image?region=us-east-1", method="POST")
    with urllib.request.urlopen(request) as answer:
        published = json.loads(answer.read())
    after = ssm.get_parameter(Name=name)["Parameter"]
    assert after["Value"] == published["image_id"] != before["Value"]
    assert after["Version"] == before["Version"] + 1
    [image] = ec2.describe_images(ImageIds=[after["Value"]])["Images"]
    assert image["Name"].startswith("al2023-ami-") and image["Architecture"] == "x86_64"
    # Not an AWS call: the request log has no line for it.
    assert "publish" not in running.log_path.read_text()


def test_a_root_volume_mapping_without_size_or_snapshot_launches_encrypted(fresh_emulator):
    running = fresh_emulator()
    ec2 = running.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]
    template = ec2.create_launch_template(LaunchTemplateName="encrypted-root", LaunchTemplateData={
        "ImageId": image["ImageId"], "InstanceType": "c7i.large",
        "BlockDeviceMappings": [{"DeviceName": image["RootDeviceName"],
                                 "Ebs": {"Encrypted": True, "VolumeType": "gp3", "DeleteOnTermination": True}}],
    })["LaunchTemplate"]
    [instance] = ec2.run_instances(LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
                                   MinCount=1, MaxCount=1)["Instances"]
    [mapping] = instance["BlockDeviceMappings"]
    assert mapping["DeviceName"] == image["RootDeviceName"]
    [volume] = ec2.describe_volumes(VolumeIds=[mapping["Ebs"]["VolumeId"]])["Volumes"]
    assert volume["Encrypted"] and volume["VolumeType"] == "gp3" and volume["Size"] > 0


def test_the_log_names_rest_calls_by_their_operation(fresh_emulator):
    """CloudFront and Route 53 are REST: the log names each call as the API does (matched
    against botocore's model), so a test can map it to its IAM action."""
    running = fresh_emulator()
    cf, r53 = running.client("cloudfront"), running.client("route53")
    zone = r53.create_hosted_zone(Name=f"{uid('log')}.example.com", CallerReference=uid("ref"))["HostedZone"]
    r53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone["Id"].split("/")[-1],
                                 AddTags=[{"Key": "k", "Value": "v"}])
    r53.list_resource_record_sets(HostedZoneId=zone["Id"])
    r53.list_hosted_zones_by_name()
    oac = cf.create_origin_access_control(OriginAccessControlConfig={
        "Name": uid("oac"), "SigningProtocol": "sigv4", "SigningBehavior": "always",
        "OriginAccessControlOriginType": "s3"})["OriginAccessControl"]
    cf.get_origin_access_control(Id=oac["Id"])
    cf.list_distributions()
    entries = [json.loads(line) for line in running.log_path.read_text().splitlines()]
    named = [(e["service"], e["operation"], e["mutating"]) for e in entries]
    assert named == [
        ("route53", "CreateHostedZone", True),
        ("route53", "ChangeTagsForResource", True),
        ("route53", "ListResourceRecordSets", False),
        ("route53", "ListHostedZonesByName", False),
        ("cloudfront", "CreateOriginAccessControl", True),
        ("cloudfront", "GetOriginAccessControl", False),
        ("cloudfront", "ListDistributions", False),
    ]
    # The path stays as it was sent.
    assert entries[-1]["path"] == "/2020-05-31/distribution"


@pytest.mark.parametrize(
    ("service", "method", "path", "query", "operation"),
    [
        # The most specific route wins: the query names a different operation.
        ("cloudfront", "POST", "/2020-05-31/distribution", "WithTags", "CreateDistributionWithTags"),
        ("cloudfront", "POST", "/2020-05-31/distribution", "", "CreateDistribution"),
        ("cloudfront", "PUT", "/2020-05-31/distribution/E1/config", "", "UpdateDistribution"),
        ("cloudfront", "GET", "/2020-05-31/distribution/E1/config", "", "GetDistributionConfig"),
        ("cloudfront", "GET", "/2020-05-31/distribution/E1", "", "GetDistribution"),
        ("cloudfront", "POST", "/2020-05-31/tagging", "Operation=Tag&Resource=a", "TagResource"),
        ("cloudfront", "POST", "/2020-05-31/tagging", "Operation=Untag&Resource=a", "UntagResource"),
        ("route53", "POST", "/2013-04-01/tags/hostedzone", "", "ListTagsForResources"),
        ("route53", "POST", "/2013-04-01/tags/hostedzone/Z1", "", "ChangeTagsForResource"),
        ("route53", "POST", "/2013-04-01/hostedzone/Z1/rrset/", "", "ChangeResourceRecordSets"),
        ("route53", "GET", "/2013-04-01/change/C1", "", "GetChange"),
        # Not REST, or not a service botocore knows: no name from the model.
        ("ec2", "POST", "/", "", None),
        ("no-such-service", "GET", "/x", "", None),
    ],
)
def test_rest_operations_come_from_the_service_model(service, method, path, query, operation):
    import aws_calls

    assert aws_calls.rest_operation(service, method, path, parse_qs(query, keep_blank_values=True)) == operation
