import { defineClusterSuite } from "./suite.ts";

// Ports 19000-19299 belong to this file.
defineClusterSuite("etcd", 19000);
