import { defineClusterSuite } from "./suite.ts";

// Ports 18600-18899 belong to this file.
defineClusterSuite("raft", 18600);
