"""The plugin's hooks, as python-openstackclient looks them up (openstack.cli.extension)."""

from lintel_osc.client import Client

API_NAME = "lintel"
API_VERSION_OPTION = "os_lintel_api_version"
API_VERSIONS = {"1": "lintel_osc.client.Client"}
DEFAULT_API_VERSION = "1"


def make_client(instance):
    """A client on the CLI's authenticated session, for the identity endpoint it would use."""
    return Client(instance.session, interface=instance.interface, region=instance.region_name)


def build_option_parser(parser):
    parser.add_argument(
        "--os-lintel-api-version",
        metavar="<lintel-api-version>",
        default=DEFAULT_API_VERSION,
        help="Lintel extension API version (default: 1)",
    )
    return parser
