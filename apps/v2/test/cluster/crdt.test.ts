import { defineClusterSuite } from "./suite.ts";

// Ports 18300-18599 belong to this file.
defineClusterSuite("crdt", 18300, { bad: true });
