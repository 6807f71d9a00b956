"""python-openstackclient plugin for Lintel's extensions."""
