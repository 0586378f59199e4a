// Package deploy holds no code: its tests check the deployment files beside
// them (kubernetes/, observability/) against what importd reads and
// registers, without a network, as kubeconform and promtool check rules
// would.
package deploy
